// The Argus dashboard (/dashboard): one GraphQL query fills the table, then regimeChanges
// over GraphQL-over-SSE (distinct connections mode, POST with Accept: text/event-stream)
// keeps its regime cells live. Resumes with `after` when the stream drops, so a reconnect
// misses no change (with nothing to resume from, it reads the table again). Novelty and
// correlations are read again every REFRESH_MS. Everything from the server is rendered as
// text, never as markup.

const TIMEFRAMES = ["M1", "M5", "M15", "H1", "H4", "D1", "W1", "MN1"];
const LABELS = new Set(["trending_up", "trending_down", "ranging", "volatile"]);
const REGIME = "timeframe label confidence stale ageSeconds";
const QUERY = `query Dashboard($symbols: [String!]!) {
  symbols(symbols: $symbols) {
    symbol
    input
    regime { ${REGIME} }
    novelty { score stale }
    correlations(first: 3) { partner { symbol } coefficient }
  }
}`;
const LIVE = `subscription Live($symbols: [String!]!, $after: String) {
  regimeChanges(symbols: $symbols, after: $after) {
    id timeframe label previous
    symbol { symbol regime { ${REGIME} } }
  }
}`;
const DEFAULT_SYMBOLS = "BTC, ETH, AAPL, NVDA";
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
const MAX_EVENT_CHARS = 1_000_000;
// ?refresh=N: seconds between reads of the table while live (at least 1; default 30).
const REFRESH_MS = 1000 * Math.max(1, Number(new URLSearchParams(window.location.search).get("refresh")) || 30);

const $ = (id) => document.getElementById(id);
let session = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

function notice(text) {
  const box = $("notice");
  box.hidden = !text;
  box.textContent = text || "";
}

// Resolves after `ms`, or at once when `signal` aborts; leaves no listener behind.
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

// A POST to /graphql under the session's key, cancelled with the session.
function post(s, query, variables, accept) {
  const headers = { "Content-Type": "application/json", Accept: accept };
  if (s.key) headers["X-API-Key"] = s.key;
  return fetch("/graphql", {
    method: "POST", headers, signal: s.controller.signal, body: JSON.stringify({ query, variables }),
  });
}

function describe(errors) {
  return errors.map((e) => (e.extensions && e.extensions.code
    ? `${e.message} (${e.extensions.code})` : e.message)).join("; ");
}

class Refused extends Error {
  constructor(message, status, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }

  // Worth retrying: the server or Redis is down or busy (503, 429), or nothing answered.
  get transient() {
    return this.status === 0 || this.status === 503 || this.status === 429;
  }
}

async function refusal(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status says it */ }
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  return new Refused(errors.length ? describe(errors) : `HTTP ${response.status}`,
                     response.status, retryAfter);
}

function regimeCell(cell, regime, change) {
  cell.replaceChildren();
  if (change) cell.classList.add("changed");
  if (!regime) {
    cell.classList.add("missing");
    cell.dataset.label = "";
    cell.textContent = "–";
    cell.title = "no regime on this timeframe";
    return;
  }
  cell.classList.remove("missing");
  cell.dataset.label = regime.label;
  const kind = LABELS.has(regime.label) ? regime.label : "other";
  cell.append(element("span", `label ${kind}${regime.stale ? " stale" : ""}`, regime.label));
  const facts = [];
  if (regime.confidence != null) facts.push(`confidence ${regime.confidence.toFixed(2)}`);
  if (regime.ageSeconds != null) facts.push(`${Math.round(regime.ageSeconds)} s old`);
  if (regime.stale) facts.push("stale");
  if (change) facts.push(`was ${change.previous ?? "none"}, changed ${new Date().toLocaleTimeString()}`);
  cell.title = facts.join(", ");
}

function fillRegimes(cells, regimes, change) {
  const byTimeframe = new Map((regimes || []).map((r) => [r.timeframe, r]));
  for (const tf of TIMEFRAMES) {
    regimeCell(cells[tf], byTimeframe.get(tf), change && change.timeframe === tf ? change : null);
  }
}

function fillFigures(row, entry) {
  row.novelty.textContent = entry.novelty ? entry.novelty.score.toFixed(2) : "–";
  row.novelty.classList.toggle("stale", Boolean(entry.novelty && entry.novelty.stale));
  row.partners.replaceChildren();
  for (const c of entry.correlations || []) {
    row.partners.append(element("div", "", `${c.partner.symbol} ${c.coefficient >= 0 ? "+" : ""}${c.coefficient.toFixed(2)}`));
  }
  if (!row.partners.childElementCount) row.partners.textContent = "–";
}

// The table, a row per input: symbol → {cells (by timeframe), novelty, partners}.
function render(inputs, entries, errors) {
  const rows = new Map();
  const body = $("rows");
  body.replaceChildren();
  entries.forEach((entry, i) => {
    const tr = element("tr");
    const name = element("td", "symbol");
    tr.append(name);
    if (!entry) {
      const error = errors.find((e) => Array.isArray(e.path) && e.path[0] === "symbols" && e.path[1] === i);
      tr.dataset.symbol = inputs[i];
      name.append(element("span", "", inputs[i]));
      const cell = element("td", "missing", error ? describe([error]) : "no data");
      cell.colSpan = TIMEFRAMES.length + 2;
      tr.append(cell);
      body.append(tr);
      return;
    }
    tr.dataset.symbol = entry.symbol;
    name.append(element("span", "", entry.symbol));
    if (entry.input !== entry.symbol) name.append(element("span", "input", entry.input));
    const row = { cells: {}, novelty: element("td", "number novelty"), partners: element("td", "correlations") };
    for (const tf of TIMEFRAMES) {
      row.cells[tf] = element("td", "regime");
      row.cells[tf].dataset.timeframe = tf;
      tr.append(row.cells[tf]);
    }
    fillRegimes(row.cells, entry.regime, null);
    fillFigures(row, entry);
    tr.append(row.novelty, row.partners);
    body.append(tr);
    rows.set(entry.symbol, row);
  });
  return rows;
}

// Novelty and correlations are not pushed: while live, the table is read again every
// REFRESH_MS, in place when its rows are the same (a change's mark stays), else whole.
async function refreshEvery(s) {
  while (!s.controller.signal.aborted) {
    await sleep(REFRESH_MS, s.controller.signal);
    if (s.controller.signal.aborted || $("status").dataset.state !== "live") continue;
    let body = null;
    try {
      const response = await post(s, QUERY, { symbols: s.inputs }, "application/json");
      if (response.ok) body = await response.json();
    } catch {
      continue;  // the stream's own status says what is wrong
    }
    if (!body || !body.data || s.controller.signal.aborted) continue;
    const entries = body.data.symbols;
    const same = entries.every((e) => e === null || s.rows.has(e.symbol))
      && entries.filter(Boolean).length === s.rows.size;
    if (!same) {
      s.rows = render(s.inputs, entries, body.errors || []);
      continue;
    }
    for (const entry of entries.filter(Boolean)) {
      const row = s.rows.get(entry.symbol);
      fillRegimes(row.cells, entry.regime, null);
      fillFigures(row, entry);
    }
  }
}

async function load(s) {
  setStatus("loading", "Loading…");
  for (let wait = FIRST_RETRY_MS; ; wait = Math.min(2 * wait, MAX_RETRY_MS)) {
    let response;
    try {
      response = await post(s, QUERY, { symbols: s.inputs }, "application/json");
    } catch (error) {
      if (s.controller.signal.aborted) return false;
      response = null;
    }
    const failure = response === null ? new Refused("the server did not answer", 0, null)
      : response.ok ? null : await refusal(response);
    if (!failure) {
      const body = await response.json();
      s.rows = render(s.inputs, body.data.symbols, body.errors || []);
      notice("");
      return true;
    }
    if (!failure.transient) {
      setStatus("error", "Not live");
      notice(failure.message);
      return false;
    }
    const ms = failure.retryAfter ? 1000 * failure.retryAfter : wait;
    setStatus("retrying", `Retrying in ${Math.ceil(ms / 1000)} s`);
    notice(failure.message);
    await sleep(ms, s.controller.signal);
    if (s.controller.signal.aborted) return false;
  }
}

// The events of a text/event-stream body: {event, data}; comments (keep-alives) skipped.
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line === "" || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        }
        if (event !== null || data.length) yield { event: event || "message", data: data.join("\n") };
      }
      if (buffer.length > MAX_EVENT_CHARS) throw new Error("an event of more than 1 MB");
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function apply(s, change) {
  const row = s.rows.get(change.symbol.symbol);
  if (!row || !row.cells[change.timeframe]) return;
  fillRegimes(row.cells, change.symbol.regime, change);
  s.changes += 1;
  setStatus("live", `Live: ${s.changes} change${s.changes === 1 ? "" : "s"}, last ${new Date().toLocaleTimeString()}`);
}

// Codes of a stream's error after which the same subscription may resume with `after`.
const RESUMABLE = new Set(["SERVICE_UNAVAILABLE", "SLOW_SUBSCRIBER"]);

// Follows the table's symbols. A reconnect resumes after the last change it got, so the
// replay fills the gap; one with nothing to resume from (no change yet, or too far back)
// reloads the table once the new stream is live, so a change made meanwhile still shows.
async function follow(s) {
  let after = null;
  let snapshot = true;  // the table is as new as this stream: nothing to catch up on
  let wait = FIRST_RETRY_MS;
  stream: while (!s.controller.signal.aborted) {
    let failure = null;
    try {
      const response = await post(s, LIVE, { symbols: [...s.rows.keys()], after }, "text/event-stream");
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.startsWith("text/event-stream")) throw await refusal(response);
      if (after === null && !snapshot && !(await load(s))) return;
      snapshot = false;
      setStatus("live", `Live since ${new Date().toLocaleTimeString()}`);
      notice("");
      wait = FIRST_RETRY_MS;
      for await (const event of serverSentEvents(response.body)) {
        if (event.event === "complete") break;
        if (event.event !== "next") continue;
        const payload = JSON.parse(event.data);
        if (payload.errors && payload.errors.length) {
          const [first] = payload.errors;
          const code = first.extensions && first.extensions.code;
          if (code === "BAD_USER_INPUT" && after !== null) {
            after = null;  // too far back to resume: afresh, with a new table
            continue stream;
          }
          if (first.extensions && first.extensions.resumeAfter) after = first.extensions.resumeAfter;
          throw new Refused(describe(payload.errors), RESUMABLE.has(code) ? 503 : 400, null);
        }
        const change = payload.data.regimeChanges;
        after = change.id;
        apply(s, change);
      }
      failure = new Refused("the stream ended", 0, null);
    } catch (error) {
      if (s.controller.signal.aborted) return;
      failure = error instanceof Refused ? error : new Refused(String(error.message || error), 0, null);
    }
    if (!failure.transient) {
      setStatus("error", "Not live");
      notice(failure.message);
      return;
    }
    const ms = failure.retryAfter ? 1000 * failure.retryAfter : wait;
    setStatus("retrying", `Reconnecting in ${Math.ceil(ms / 1000)} s`);
    notice(failure.message);
    await sleep(ms, s.controller.signal);
    wait = Math.min(2 * wait, MAX_RETRY_MS);
  }
}

function symbolsOf(text) {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

async function start() {
  if (session) session.controller.abort();
  const text = $("symbols").value;
  const s = { inputs: symbolsOf(text), key: $("api-key").value.trim(), rows: new Map(),
              changes: 0, controller: new AbortController() };
  session = s;
  const url = new URL(window.location.href);
  url.searchParams.set("symbols", s.inputs.join(","));
  window.history.replaceState(null, "", url);
  if (!s.inputs.length) {
    $("rows").replaceChildren();
    setStatus("idle", "Name at least one symbol");
    return;
  }
  if (await load(s) && s.rows.size && session === s) {
    refreshEvery(s);
    await follow(s);
  }
  else if (session === s && !s.rows.size && $("status").dataset.state !== "error") {
    setStatus("idle", "Nothing to follow");
  }
}

$("symbols").value = new URLSearchParams(window.location.search).get("symbols") || DEFAULT_SYMBOLS;
$("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  start();
});
start();
