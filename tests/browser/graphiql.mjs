// GraphiQL in a real browser: `node graphiql.mjs http://127.0.0.1:PORT`.
//
// Opens /graphql in Debian's chromium (headless, a fresh profile, no browser download),
// runs the default query and checks that the result pane shows BINANCE:BTC-USDT data, with
// no console error, page error or CSP violation, and no request to anything but the server.
// Prints one JSON line of what it saw; exits 1 when a check fails.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) {
  console.error("usage: node graphiql.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const origin = new URL(base).origin;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "argus-chromium-"));
const seen = { consoleErrors: [], pageErrors: [], violations: [], outside: [], requests: 0 };
let failure = null;
let context = null;

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // Anything not addressed to the server is recorded and never sent.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || new URL(url).origin === origin) return route.continue();
    seen.outside.push(url);
    return route.abort();
  });
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") seen.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => seen.pageErrors.push(String(error)));
  page.on("request", () => { seen.requests += 1; });

  const response = await page.goto(`${base}/graphql`, { waitUntil: "load" });
  seen.status = response.status();
  seen.csp = response.headers()["content-security-policy"] || null;
  seen.frameOptions = response.headers()["x-frame-options"] || null;

  const run = page.locator(".graphiql-execute-button");
  await run.waitFor({ state: "visible", timeout: 20_000 });
  // The editors mount after the schema's introspection; the default query is in place then.
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor({ timeout: 20_000 });
  await run.click();
  const result = page.locator(".graphiql-response .result-window");
  await result.filter({ hasText: "BINANCE:BTC-USDT" }).waitFor({ timeout: 20_000 });
  seen.result = (await result.innerText()).slice(0, 2_000);
  // The documentation explorer renders the schema: more of the bundle under the policy.
  await page.getByRole("button", { name: /documentation explorer/i }).click();
  await page.locator(".graphiql-doc-explorer").filter({ hasText: "Query" }).waitFor({ timeout: 10_000 });
  await page.waitForTimeout(300); // late console output of the render
  seen.violations = await page.evaluate(() => window.__violations);
} catch (error) {
  failure = String(error);
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}

const problems = [];
if (failure) problems.push(failure);
if (seen.status !== 200) problems.push(`GET /graphql answered ${seen.status}`);
if (!seen.csp) problems.push("no Content-Security-Policy on the GraphiQL page");
if (seen.frameOptions !== "DENY") problems.push(`X-Frame-Options is ${seen.frameOptions}`);
if (!/"symbol":\s*"BINANCE:BTC-USDT"/.test(seen.result || "")) problems.push("no BINANCE:BTC-USDT in the result pane");
if (!/"label":\s*"trending_up"/.test(seen.result || "")) problems.push("no regime data in the result pane");
for (const key of ["consoleErrors", "pageErrors", "violations", "outside"]) {
  if (seen[key].length) problems.push(`${key}: ${seen[key].join(" | ")}`);
}
console.log(JSON.stringify({ ok: problems.length === 0, problems, ...seen }));
process.exit(problems.length ? 1 : 0);
