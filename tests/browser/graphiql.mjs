// GraphiQL in a real browser: `node graphiql.mjs http://127.0.0.1:PORT`.
//
// Opens /graphql in Debian's chromium (browser.mjs), runs the default query and checks that
// the result pane shows BINANCE:BTC-USDT data, with no console error, page error or CSP
// violation, and no request to anything but the server.
// Prints one JSON line of what it saw; exits 1 when a check fails.
import { checkPage } from "./browser.mjs";

await checkPage("graphiql.mjs", "/graphql", async (page, seen) => {
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
}, (seen) => {
  const problems = [];
  if (!/"symbol":\s*"BINANCE:BTC-USDT"/.test(seen.result || "")) problems.push("no BINANCE:BTC-USDT in the result pane");
  if (!/"label":\s*"trending_up"/.test(seen.result || "")) problems.push("no regime data in the result pane");
  return problems;
});
