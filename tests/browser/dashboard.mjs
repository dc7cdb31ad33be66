// The dashboard in a real browser: `node dashboard.mjs http://127.0.0.1:PORT`.
//
// Opens /dashboard?symbols=BTC,ETH,NOPE in Debian's chromium (browser.mjs) and checks the
// table (two rows of regimes, novelty and correlations; NOPE's NOT_FOUND in its row), that
// it goes live, and, once it prints READY on a line of its own, that a regime change the
// test then writes reaches its cell; then that the form follows another symbol list. No
// console error, page error, CSP violation or request off the server.
// Prints one JSON line of what it saw; exits 1 when a check fails.
import { openWatched, pageProblems, visit } from "./browser.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node dashboard.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const BTC = 'tr[data-symbol="BINANCE:BTC-USDT"]';
let failure = null;
let browser = null;
let seen = { consoleErrors: [], pageErrors: [], violations: [], outside: [] };

try {
  browser = await openWatched(base);
  const { page } = browser;
  seen = browser.seen;
  await visit(page, seen, `${base}/dashboard?symbols=BTC,ETH,NOPE`);
  await page.locator(`${BTC} td[data-timeframe="H1"][data-label="trending_up"]`).waitFor({ timeout: 20_000 });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  seen.rows = await page.locator("#rows tr").evaluateAll((rows) => rows.map((r) => r.dataset.symbol));
  seen.labels = await page.locator(`${BTC} td.regime`).evaluateAll((cells) => cells.map((c) => c.dataset.label));
  seen.novelty = await page.locator(`${BTC} td.novelty`).innerText();
  seen.correlations = await page.locator(`${BTC} td.correlations`).innerText();
  seen.missing = await page.locator('tr[data-symbol="NOPE"]').innerText();
  console.log("READY");
  const changed = page.locator(`${BTC} td[data-timeframe="H1"][data-label="volatile"].changed`);
  await changed.waitFor({ timeout: 20_000 });
  seen.changedTitle = await changed.getAttribute("title");
  seen.status = seen.status; // the page's answer, kept from visit()
  seen.liveStatus = await page.locator("#status").innerText();
  // The form follows another list: one row, and the address says which.
  await page.fill("#symbols", "ETH");
  await page.click("#controls button");
  await page.locator('#rows tr[data-symbol="BINANCE:ETH-USDT"]').waitFor({ timeout: 20_000 });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  seen.rowsAfter = await page.locator("#rows tr").evaluateAll((rows) => rows.map((r) => r.dataset.symbol));
  seen.address = page.url();
  await page.waitForTimeout(300);
  seen.violations = await page.evaluate(() => window.__violations);
} catch (error) {
  failure = String(error);
} finally {
  if (browser) await browser.close();
}

const problems = failure ? [failure] : [];
problems.push(...pageProblems(seen, "/dashboard"));
const want = ["BINANCE:BTC-USDT", "BINANCE:ETH-USDT", "NOPE"];
if (JSON.stringify(seen.rows) !== JSON.stringify(want)) problems.push(`rows ${JSON.stringify(seen.rows)}`);
if (!(seen.labels || []).every((label) => label === "trending_up") || (seen.labels || []).length !== 8) {
  problems.push(`BTC's regime cells ${JSON.stringify(seen.labels)}`);
}
if (seen.novelty !== "0.50") problems.push(`BTC's novelty ${seen.novelty}`);
if (!/BINANCE:ETH-USDT \+0\.99/.test(seen.correlations || "")) problems.push(`BTC's correlations ${seen.correlations}`);
if (!/NOT_FOUND/.test(seen.missing || "")) problems.push(`NOPE's row ${seen.missing}`);
if (!/was trending_up/.test(seen.changedTitle || "")) problems.push(`the changed cell's title ${seen.changedTitle}`);
if (!/1 change\b/.test(seen.liveStatus || "")) problems.push(`status after the change ${seen.liveStatus}`);
if (JSON.stringify(seen.rowsAfter) !== JSON.stringify(["BINANCE:ETH-USDT"])) problems.push(`rows after the form ${JSON.stringify(seen.rowsAfter)}`);
if (!/[?&]symbols=ETH$/.test(seen.address || "")) problems.push(`address ${seen.address}`);
console.log(JSON.stringify({ ok: problems.length === 0, problems, ...seen }));
process.exit(problems.length ? 1 : 0);
