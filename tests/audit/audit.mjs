// The graphql-http server audit (GraphQL-over-HTTP spec) against a live server.
// Usage: node audit.mjs URL [X-API-Key]
// Prints one JSON line per audit ({id, name, status, reason?, statusCode?, body?}) and exits 0
// once every audit has run; the pytest wrapper (tests/http/test_graphql_http_audit.py) judges them.
import { serverAudits } from 'graphql-http';

const [url, apiKey] = process.argv.slice(2);
if (!url) {
  console.error('usage: node audit.mjs URL [X-API-Key]');
  process.exit(2);
}

// The audits build their own requests; a key, when given, is added to each of them.
const fetchFn = apiKey
  ? (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('x-api-key', apiKey);
      return fetch(input, { ...init, headers });
    }
  : fetch;

for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.statusCode = result.response.status;
    try {
      line.body = (await result.response.text()).slice(0, 500);
    } catch {
      line.body = null; // the audit already read it
    }
  }
  console.log(JSON.stringify(line));
}
