// The dashboard through a server restart: `node dashboard_resume.mjs http://127.0.0.1:PORT`.
//
// Follows BTC; prints READY once live, GOT once the test's first change is in its cell and
// DOWN once the page sees the server gone. The test then writes a second change while the
// server is down and starts it again on the same port: the page must reconnect, resume
// after the first change and show the second (replayed, not reloaded: it is marked changed).
// Prints one JSON line of what it saw; exits 1 when a check fails.
import { checkPage } from "./browser.mjs";

const BTC = 'tr[data-symbol="BINANCE:BTC-USDT"]';

await checkPage("dashboard_resume.mjs", "/dashboard?symbols=BTC", async (page, seen) => {
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  console.log("READY");
  await page.locator(`${BTC} td[data-timeframe="H1"][data-label="volatile"].changed`).waitFor({ timeout: 20_000 });
  console.log("GOT");
  await page.locator('#status[data-state="retrying"]').waitFor({ timeout: 20_000 });
  seen.downNotice = await page.locator("#notice").innerText();
  console.log("DOWN");
  const replayed = page.locator(`${BTC} td[data-timeframe="H4"][data-label="ranging"].changed`);
  await replayed.waitFor({ timeout: 60_000 });
  seen.replayedTitle = await replayed.getAttribute("title");
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
  seen.h1 = await page.locator(`${BTC} td[data-timeframe="H1"]`).getAttribute("data-label");
}, (seen) => {
  // The server going away is expected here: the page's failed reconnects log network errors.
  seen.consoleErrors = seen.consoleErrors.filter(
    (text) => !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|network/i.test(text));
  const problems = [];
  // The first change's write left BTC with 1h only, so 4h's change has no previous label.
  if (!/was none, changed/.test(seen.replayedTitle || "")) problems.push(`the replayed cell's title ${seen.replayedTitle}`);
  if (seen.h1 !== "volatile") problems.push(`H1 after the restart ${seen.h1}`);
  if (!seen.downNotice) problems.push("no notice while the server was down");
  return problems;
});
