// Debian's chromium, headless with a fresh profile and no browser download, watched for
// what a page must never do: log a console error, throw, violate its Content-Security-Policy
// or send a request anywhere but the server. Shared by graphiql.mjs and dashboard.mjs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export async function openWatched(base) {
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
export function pageProblems(seen, name) {
  const problems = [];
  if (seen.status !== 200) problems.push(`GET ${name} answered ${seen.status}`);
  if (!seen.csp) problems.push(`no Content-Security-Policy on ${name}`);
  if (seen.frameOptions !== "DENY") problems.push(`X-Frame-Options is ${seen.frameOptions}`);
  for (const key of ["consoleErrors", "pageErrors", "violations", "outside"]) {
    if (seen[key].length) problems.push(`${key}: ${seen[key].join(" | ")}`);
  }
  return problems;
}

export async function visit(page, seen, url) {
  const response = await page.goto(url, { waitUntil: "load" });
  seen.status = response.status();
  seen.csp = response.headers()["content-security-policy"] || null;
  seen.frameOptions = response.headers()["x-frame-options"] || null;
}
