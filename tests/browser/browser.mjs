// Debian's chromium, headless with a fresh profile and no browser download, watched for
// what a page must never do: log a console error, throw, violate its Content-Security-Policy
// or send a request anywhere but the server. ``checkPage`` is the whole run of one page
// check (graphiql.mjs, dashboard.mjs, dashboard_resume.mjs).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

async function openWatched(base) {
  const origin = new URL(base).origin;
  const profile = mkdtempSync(join(tmpdir(), "argus-chromium-"));
  const seen = { consoleErrors: [], pageErrors: [], violations: [], outside: [], requests: 0 };
  let context = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
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
    const close = async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    };
    return { page, seen, close };
  } catch (error) {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

// The security headers every HTML page must carry, and what the watch saw, as problems.
function pageProblems(seen, name) {
  const problems = [];
  if (seen.status !== 200) problems.push(`GET ${name} answered ${seen.status}`);
  if (!seen.csp) problems.push(`no Content-Security-Policy on ${name}`);
  if (seen.frameOptions !== "DENY") problems.push(`X-Frame-Options is ${seen.frameOptions}`);
  for (const key of ["consoleErrors", "pageErrors", "violations", "outside"]) {
    if (seen[key].length) problems.push(`${key}: ${seen[key].join(" | ")}`);
  }
  return problems;
}

async function visit(page, seen, url) {
  const response = await page.goto(url, { waitUntil: "load" });
  seen.status = response.status();
  seen.csp = response.headers()["content-security-policy"] || null;
  seen.frameOptions = response.headers()["x-frame-options"] || null;
}

// `node <script> http://127.0.0.1:PORT`: opens `path`, runs `steps(page, seen)`, then
// prints one JSON line of what it saw and exits 1 when `judge(seen)` or the watch found a
// problem (or a step failed).
export async function checkPage(script, path, steps, judge) {
  const base = process.argv[2];
  if (!base) {
    console.error(`usage: node ${script} http://127.0.0.1:PORT`);
    process.exit(2);
  }
  let failure = null;
  let browser = null;
  let seen = { consoleErrors: [], pageErrors: [], violations: [], outside: [] };
  try {
    browser = await openWatched(base);
    seen = browser.seen;
    await visit(browser.page, seen, `${base}${path}`);
    await steps(browser.page, seen);
    await browser.page.waitForTimeout(300); // late console output of the last render
    seen.violations = await browser.page.evaluate(() => window.__violations);
  } catch (error) {
    failure = String(error);
  } finally {
    if (browser) await browser.close();
  }
  const problems = failure ? [failure] : [];
  problems.push(...judge(seen));
  problems.push(...pageProblems(seen, path.split("?")[0]));
  console.log(JSON.stringify({ ok: problems.length === 0, problems, ...seen }));
  process.exit(problems.length ? 1 : 0);
}
