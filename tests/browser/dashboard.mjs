// The dashboard in a real browser: `node dashboard.mjs http://127.0.0.1:PORT`.
//
// Opens /dashboard?symbols=BTC,ETH,NOPE in Debian's chromium (browser.mjs) and checks the
// table (two rows of regimes, novelty and correlations; NOPE's NOT_FOUND in its row), that
// it goes live, and, once it prints READY on a line of its own, that a regime change the
// test then writes reaches its cell; once it prints CHANGED, that a new novelty score shows
// at the next read of the table; then that the form follows another symbol list. No
// console error, page error, CSP violation or request off the server.
// Prints one JSON line of what it saw; exits 1 when a check fails.
import { checkPage } from "./browser.mjs";

const BTC = 'tr[data-symbol="BINANCE:BTC-USDT"]';

await checkPage("dashboard.mjs", "/dashboard?symbols=BTC,ETH,NOPE&refresh=1", async (page, seen) => {
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
  seen.liveStatus = await page.locator("#status").innerText();
  console.log("CHANGED");
  // Novelty is not pushed: the next read of the table (every second here) brings it.
  await page.locator(`${BTC} td.novelty`).filter({ hasText: "0.93" }).waitFor({ timeout: 20_000 });
  seen.changedAfterRefresh = await changed.count();
  // The form follows another list: one row, and the address says which.
  await page.fill("#symbols", "ETH");
  await page.click("#controls button");
  await page.locator('#rows tr[data-symbol="BINANCE:ETH-USDT"]').waitFor({ timeout: 20_000 });
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  seen.rowsAfter = await page.locator("#rows tr").evaluateAll((rows) => rows.map((r) => r.dataset.symbol));
  seen.address = page.url();
}, (seen) => {
  const problems = [];
  const want = ["BINANCE:BTC-USDT", "BINANCE:ETH-USDT", "NOPE"];
  if (JSON.stringify(seen.rows) !== JSON.stringify(want)) problems.push(`rows ${JSON.stringify(seen.rows)}`);
  const labels = seen.labels || [];
  if (labels.length !== 8 || !labels.every((label) => label === "trending_up")) {
    problems.push(`BTC's regime cells ${JSON.stringify(seen.labels)}`);
  }
  if (seen.novelty !== "0.50") problems.push(`BTC's novelty ${seen.novelty}`);
  if (!/BINANCE:ETH-USDT \+0\.99/.test(seen.correlations || "")) problems.push(`BTC's correlations ${seen.correlations}`);
  if (!/NOT_FOUND/.test(seen.missing || "")) problems.push(`NOPE's row ${seen.missing}`);
  if (!/was trending_up/.test(seen.changedTitle || "")) problems.push(`the changed cell's title ${seen.changedTitle}`);
  if (!/1 change\b/.test(seen.liveStatus || "")) problems.push(`status after the change ${seen.liveStatus}`);
  if (seen.changedAfterRefresh !== 1) problems.push("a read of the table cleared the change's mark");
  if (JSON.stringify(seen.rowsAfter) !== JSON.stringify(["BINANCE:ETH-USDT"])) {
    problems.push(`rows after the form ${JSON.stringify(seen.rowsAfter)}`);
  }
  if (!/[?&]symbols=ETH(&|$)/.test(seen.address || "")) problems.push(`address ${seen.address}`);
  return problems;
});
