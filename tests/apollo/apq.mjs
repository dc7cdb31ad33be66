// Apollo Client with its persisted-query link against a live Argus: prints, as one JSON
// line, every HTTP exchange the link made and the data of each query.
// Usage: node apq.mjs <graphql url> <post|get>
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";
import { createHash } from "node:crypto";

const [url, mode] = process.argv.slice(2);
const exchanges = [];

async function recordingFetch(input, init) {
  const method = (init && init.method) || "GET";
  let sent;
  if (method === "GET") {
    const params = new URL(String(input)).searchParams;
    sent = { query: params.get("query"), extensions: JSON.parse(params.get("extensions") || "null") };
  } else {
    sent = JSON.parse(init.body);
  }
  const response = await fetch(input, init);
  const body = await response.clone().json();
  exchanges.push({
    method,
    withQuery: typeof sent.query === "string" && sent.query.length > 0,
    sha256Hash: sent.extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    codes: (body.errors || []).map((e) => e.extensions?.code ?? null),
  });
  return response;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: mode === "get" })
  .concat(new HttpLink({ uri: url, fetch: recordingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const QUERY = gql`query Btc { symbol(symbol: "BTC") { symbol regime { timeframe label } } }`;

const data = [];
for (let i = 0; i < 2; i++) {
  const result = await client.query({ query: QUERY, fetchPolicy: "network-only" });
  data.push(result.data);
}
console.log(JSON.stringify({ exchanges, data }));
