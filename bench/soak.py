"""Soak: ``python -m bench.soak [--seconds 600] [--smoke] [--hostile-share 0.05]``.

Starts its own redis-server (free loopback port) with the seed-scale keyspace
(``bench.keyspace``), API keys made with ``argus keys add`` (a ``pro`` key for dashboards,
an ``internal`` key for Apex), and a real ``argus serve`` process, then sends a fixed mixed
load at a fixed rate for ``--seconds``:

* dashboards: one symbol, full selection, POST and GET (``pro`` key);
* Apex: batches of 100-1,000 symbols (``internal`` key);
* REST: ``/api/intelligence/{symbol}`` (anonymous);
* subscriptions (``--subscribers``, ``bench.soak_subscriptions``): dashboards that
  subscribe over WebSocket, read a few seconds and leave, while a feeder appends changes;
* hostile input (``--hostile-share`` of all requests, anonymous): oversized and chunked
  bodies, malformed JSON and UTF-8, batches, deep variables and JSON, deep selections,
  huge documents, fragment bombs, alias floods, big headers, junk APQ registrations. Every
  size is bounded (the largest body is 2 MiB) and everything goes to 127.0.0.1.

The budgets of ``anonymous`` and ``pro`` are raised (a tiers file) so that what a request
gets back depends on the request, not on how fast the soak spends a budget; the budget
check itself still runs.

It prints requests served, statuses per kind, lost requests (no complete answer: reset,
early close, timeout), p50 and p99 per kind, and the server's RSS at start, after warm-up
and at the end: the soak passes when the end is within 10% of the warm-up figure.

Any 5xx or lost request fails the run, and so does a legitimate request answered other
than 200 without errors; the hostile kinds in ``KNOWN_ISSUES`` are only reported until
their fixes land. ``--smoke`` (the test command runs ``--seconds 30 --smoke``) runs at a
lighter rate, leaves the ``KNOWN_ISSUES`` kinds out of its mix, and reports RSS without
judging it.

The client is a raw asyncio HTTP/1.1 keep-alive client (below), like ``bench.read_bench``'s:
it costs microseconds per request where httpx costs hundreds, so one core drives the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import orjson
import psutil

from bench import keyspace
from bench.read_bench import stop_process
from bench.soak_subscriptions import SubscriptionStats, run_subscriptions
from bench.soak_subscriptions import failures as subscription_failures
from tests.queries import BATCH, FULL_ONE
from tests.redis_server import RedisServer, free_port

HOST = "127.0.0.1"
#: A request with no complete answer within this is lost (the server may be busy with a
#: hostile document, but never this long).
TIMEOUT = 30.0
MiB = 1 << 20
#: Hostile kinds not yet handled on this branch, with the issue item that fixes them: their
#: 5xx are reported, never failed, and ``--smoke`` leaves them out of its mix unless named in
#: ``--hostile-kinds``, because what they break lands on the legitimate requests beside
#: them (a blocked event loop times their Redis rounds out: 503s). Delete an entry once its
#: fix is in.
KNOWN_ISSUES: dict[str, str] = {
    # None since issue 9's fixes were merged: every hostile kind answers a 4xx or a 200.
    # Add an entry, e.g. "deep_variables": "item 8: 500", while a kind is known to fail.
}


# --- requests ------------------------------------------------------------------------------

def http_request(method: str, path: str, body: bytes = b"", *,
                 headers: dict[str, str] | None = None, chunked: bool = False) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        step = 64 * 1024
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                        for i in range(0, len(body), step)) + b"0\r\n\r\n"
    elif method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def post_json(payload: object, headers: dict[str, str] | None = None) -> bytes:
    return http_request("POST", "/graphql", orjson.dumps(payload),
                        headers={"Content-Type": "application/json", **(headers or {})})


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


@dataclass
class Mix:
    """Builds each kind's request; ``legit`` kinds must answer 200 without errors."""

    symbols: list[str]
    correlated: list[str]
    pro_key: str
    internal_key: str
    rng: random.Random
    legit: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    hostile: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.legit = {
            "dashboard_post": self.dashboard_post,
            "dashboard_get": self.dashboard_get,
            "apex_batch": self.apex_batch,
            "rest": self.rest,
        }
        self.hostile = {
            "oversized_body": lambda: self.oversized(chunked=False),
            "oversized_chunked": lambda: self.oversized(chunked=True),
            "malformed_json": lambda: http_request(
                "POST", "/graphql", b'{"query": "{ __typename ',
                headers={"Content-Type": "application/json"}),
            "invalid_utf8": lambda: http_request(
                "POST", "/graphql", b'{"query": "{ sym\xff\xfe }"}',
                headers={"Content-Type": "application/json"}),
            "wrong_content_type": lambda: http_request(
                "POST", "/graphql", b"{ __typename }", headers={"Content-Type": "text/plain"}),
            "batch": lambda: post_json([{"query": "{ __typename }"}] * 50),
            "syntax_error": lambda: post_json({"query": "{ symbol(symbol: " + self.tag()}),
            "deep_variables": self.deep_variables,
            "deep_variables_get": self.deep_variables_get,
            "deep_json": lambda: http_request(
                "POST", "/graphql", b'{"query": "{ __typename }", "extensions": '
                + nested_list(2_000).encode() + b"}", headers={"Content-Type": "application/json"}),
            "deep_selection": self.deep_selection,
            "huge_document": self.huge_document,
            "fragment_bomb": self.fragment_bomb,
            "alias_flood": lambda: post_json({"query": "{ " + " ".join(
                f"a{i}: __typename" for i in range(2_000)) + " }  # " + self.tag()}),
            "big_header": lambda: http_request(
                "GET", "/graphql?query=%7B__typename%7D", headers={"X-Pad": "p" * (256 * 1024)}),
            "apq_junk": self.apq_junk,
        }

    def tag(self) -> str:
        """A distinct suffix, so that caches meet new documents as an attacker sends them."""
        return f"{self.rng.getrandbits(64):016x}"

    def dashboard_post(self) -> bytes:
        return post_json({"query": FULL_ONE, "variables": {"s": self.rng.choice(self.correlated)}},
                         {"X-API-Key": self.pro_key})

    def dashboard_get(self) -> bytes:
        variables = quote(orjson.dumps({"s": self.rng.choice(self.correlated)}).decode())
        return http_request("GET", f"/graphql?query={quote(FULL_ONE)}&variables={variables}",
                            headers={"X-API-Key": self.pro_key})

    def apex_batch(self) -> bytes:
        size = self.rng.randint(100, 1_000)
        start = self.rng.randrange(0, len(self.symbols) - size)
        return post_json({"query": BATCH, "variables": {"s": self.symbols[start:start + size]}},
                         {"X-API-Key": self.internal_key})

    def rest(self) -> bytes:
        symbol = self.rng.choice(self.correlated)
        return http_request("GET", f"/api/intelligence/{quote(symbol, safe='')}")

    def oversized(self, *, chunked: bool) -> bytes:
        body = orjson.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (2 * MiB)}})
        return http_request("POST", "/graphql", body, chunked=chunked,
                            headers={"Content-Type": "application/json"})

    def deep_variables(self) -> bytes:
        body = b'{"query": "{ __typename }", "variables": {"x": ' + nested_list(800).encode() + b"}}"
        return http_request("POST", "/graphql", body, headers={"Content-Type": "application/json"})

    def deep_variables_get(self) -> bytes:
        variables = quote('{"x": ' + nested_list(800) + "}")
        return http_request("GET", f"/graphql?query=%7B__typename%7D&variables={variables}")

    def deep_selection(self) -> bytes:
        depth = 300
        inner = "symbol(symbol: \"BTC\") {" + " correlations { partner {" * depth + " symbol"
        return post_json({"query": "{ " + inner + " } }" * depth + " } } # " + self.tag()})

    def huge_document(self) -> bytes:
        # ~440 KB and 40,000 tokens: under the largest tier's token limit, far over anonymous's.
        return post_json({"query": "{ " + "__typename " * 40_000 + "} # " + self.tag()})

    def fragment_bomb(self) -> bytes:
        # Each of n fragments spreads the next twice: 2^n expansions for a ~600-byte document
        # (issue 9 item 1 has n = 20 take 6 s; n = 16 keeps the soak's loop moving meanwhile).
        n, tag = 16, self.tag()
        fragments = " ".join(f"fragment F{i}x{tag} on Symbol {{ ...F{i + 1}x{tag} ...F{i + 1}x{tag} }}"
                             for i in range(1, n))
        query = (f'{{ symbol(symbol: "BTC") {{ ...F1x{tag} }} }} {fragments} '
                 f"fragment F{n}x{tag} on Symbol {{ symbol }}")
        return post_json({"query": query})

    def apq_junk(self) -> bytes:
        # 30 KB: under the persisted-query size cap, so it tests that junk is not stored.
        text = "not graphql " + self.tag() + " " + "z" * (30 * 1024)
        sha = hashlib.sha256(text.encode()).hexdigest()
        return post_json({"query": text, "extensions": {
            "persistedQuery": {"version": 1, "sha256Hash": sha}}})


# --- a raw HTTP/1.1 keep-alive client ---------------------------------------------------------

class Lost(Exception):
    """No complete answer: the connection closed or reset, or the answer timed out."""


class StaleClose(Exception):
    """A kept-alive connection closed before any byte of the next answer: the server closed
    it after the previous answer without saying ``Connection: close``."""


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.answered = 0  # answers read on the current connection

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer (Content-Length, chunked or until close).

        Raises ``StaleClose`` when a reused connection turns out closed (the caller may
        retry, as HTTP clients do), ``Lost`` for any other missing answer."""
        reused = self.answered > 0
        try:
            return await asyncio.wait_for(self._exchange(raw), TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            self.close()
            if reused and not exc.partial:
                raise StaleClose() from exc
            raise Lost(type(exc).__name__) from exc
        except ConnectionResetError as exc:
            self.close()
            if reused:
                raise StaleClose() from exc
            raise Lost(type(exc).__name__) from exc
        except (OSError, EOFError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            self.close()
            raise Lost(type(exc).__name__) from exc

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=MiB)
            self.answered = 0
        reader, writer = self.reader, self.writer
        # Written without waiting for drain: the server may answer (413) before reading all.
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        self.answered += 1
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            body = b"".join(parts)
        else:
            body = await reader.read()
            headers[b"connection"] = b"close"
        if headers.get(b"connection") == b"close":
            self.close()
        else:
            with contextlib.suppress(OSError):
                await writer.drain()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --- the load -----------------------------------------------------------------------------------

@dataclass
class Stats:
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lost_reasons: Counter[str] = field(default_factory=Counter)
    #: Kept-alive connections the server closed silently, by the kind answered just before.
    stale_after: Counter[str] = field(default_factory=Counter)
    #: The first body of each (kind, status) that is not a clean 200, to show what it was.
    examples: dict[tuple[str, str], bytes] = field(default_factory=dict)
    served: int = 0


async def run_load(port: int, mix: Mix, schedule: list[str], rate: float, callers: int,
                   seconds: float, warmup: float, stats: Stats, *,
                   on_warm: Callable[[], None], progress: Callable[[float], None]) -> None:
    started = time.perf_counter()
    stop = started + seconds
    slot = 0
    builders = {**mix.legit, **mix.hostile}

    async def caller() -> None:
        nonlocal slot
        connection = Connection(port)
        previous = ""
        try:
            while True:
                i = slot
                slot += 1
                due = started + i / rate
                now = time.perf_counter()
                if due >= stop or now >= stop:  # behind schedule, the clock still ends the run
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                kind = schedule[i % len(schedule)]
                raw = builders[kind]()
                sent = time.perf_counter()
                try:
                    try:
                        status, body = await connection.exchange(raw)
                    except StaleClose:
                        stats.stale_after[previous] += 1
                        status, body = await connection.exchange(raw)  # fresh connection
                except (Lost, StaleClose) as exc:
                    stats.statuses[kind]["lost"] += 1
                    stats.lost_reasons[f"{kind}: {type(exc).__name__} {exc}"] += 1
                    previous = kind
                    continue
                previous = kind
                elapsed = (time.perf_counter() - sent) * 1000.0
                stats.served += 1
                label = str(status)
                if kind in mix.legit and status == 200 and b'"errors"' in body:
                    label = "200+errors"
                if label != "200":
                    stats.examples.setdefault((kind, label), body[:300])
                stats.statuses[kind][label] += 1
                if sent >= started + warmup:
                    stats.latencies[kind].append(elapsed)
        finally:
            connection.close()

    async def watch() -> None:
        warm = False
        report_at = started + 30.0
        while time.perf_counter() < stop:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            if not warm and now >= started + warmup:
                warm = True
                on_warm()
            if now >= report_at:
                report_at += 30.0
                progress(now - started)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(caller() for _ in range(callers)))
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


# --- processes ----------------------------------------------------------------------------------

def add_key(env: dict[str, str], tier: str, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "argus", "keys", "add", "--tier", tier,
                          "--name", name], env=env, capture_output=True, text=True, check=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    return out.stdout.strip()


class Server:
    """``argus serve`` on a free port, its log in a file (hostile input makes it talk)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "argus", "serve", "--host", HOST, "--port", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)

    async def ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"argus serve exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(Lost):
                connection = Connection(self.port)
                status, _ = await connection.exchange(http_request("GET", "/readyz"))
                connection.close()
                if status == 200:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError("argus serve did not become ready")

    def rss_mb(self) -> float:
        return float(psutil.Process(self.process.pid).memory_info().rss) / 1e6

    def stop(self) -> None:
        stop_process(self.process)


def redis_used_mb(port: int) -> float:
    import redis

    client = redis.Redis(host=HOST, port=port)
    try:
        return float(client.info("memory")["used_memory"]) / 1e6
    finally:
        client.close()


# --- the run ------------------------------------------------------------------------------------

#: The fixed mix: relative weights of the legitimate kinds; hostile kinds share
#: ``--hostile-share`` of all requests, the expensive ones less often.
LEGIT_WEIGHTS = {"dashboard_post": 60, "dashboard_get": 15, "apex_batch": 3, "rest": 22}
HOSTILE_WEIGHTS = {"huge_document": 0.02, "fragment_bomb": 0.05, "alias_flood": 0.2,
                   "oversized_body": 0.5, "oversized_chunked": 0.5}


def build_schedule(mix: Mix, hostile_share: float, kinds: set[str] | None,
                   rng: random.Random, length: int = 100_000) -> list[str]:
    hostile = [k for k in mix.hostile if kinds is None or k in kinds]
    legit_total = sum(LEGIT_WEIGHTS.values())
    names = list(LEGIT_WEIGHTS)
    weights = [w / legit_total * (1.0 - hostile_share) for w in LEGIT_WEIGHTS.values()]
    if hostile and hostile_share > 0:
        raw = {k: HOSTILE_WEIGHTS.get(k, 1.0) for k in hostile}
        total = sum(raw.values())
        names += hostile
        weights += [w / total * hostile_share for w in raw.values()]
    return rng.choices(names, weights, k=length)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def soak(args: argparse.Namespace, tmp: Path) -> int:
    rng = random.Random(args.seed)
    redis_server = RedisServer().start()
    server: Server | None = None
    try:
        seed_scale = args.symbols == keyspace.SEED_SYMBOLS
        ks = keyspace.load(redis_server.port, n_symbols=args.symbols,
                           regime_keys=keyspace.SEED_REGIME_KEYS if seed_scale else args.symbols * 8,
                           correlated=min(keyspace.CORRELATED_SYMBOLS, args.symbols // 4))
        print(f"keyspace: {ks.counts} loaded in {ks.seconds:.1f} s", flush=True)
        tiers = tmp / "tiers.toml"
        tiers.write_text("[anonymous]\nbudget = 1000000000000\n[pro]\nbudget = 1000000000000\n")
        env = {**os.environ, "ARGUS_REDIS_URL": redis_server.url, "ARGUS_TIERS_FILE": str(tiers)}
        mix = Mix(ks.symbols, ks.correlated, add_key(env, "pro", "soak-dashboards"),
                  add_key(env, "internal", "soak-apex"), rng)
        kinds = set(args.hostile_kinds.split(",")) if args.hostile_kinds else None
        if kinds is None and args.smoke:
            kinds = set(mix.hostile) - set(KNOWN_ISSUES)
            if KNOWN_ISSUES:
                print("smoke leaves out (known, not yet fixed): " + ", ".join(sorted(KNOWN_ISSUES)))
        unknown = (kinds or set()) - set(mix.hostile)
        if unknown:
            raise SystemExit(f"unknown hostile kinds: {sorted(unknown)}; known: {sorted(mix.hostile)}")
        schedule = build_schedule(mix, args.hostile_share, kinds, rng)
        server = Server(env, args.log or tmp / "server.log")
        await server.ready()
        if args.probe:
            return await probe(server.port, mix)
        rss = {"start": server.rss_mb()}
        redis_mb = {"start": redis_used_mb(redis_server.port)}
        stats = Stats()
        warmup = args.warmup if args.warmup is not None else min(60.0, args.seconds / 5)
        live = server

        def on_warm() -> None:
            rss["warm"] = live.rss_mb()
            print(f"after warm-up ({warmup:.0f} s): RSS {rss['warm']:.1f} MB", flush=True)

        def progress(at: float) -> None:
            print(f"  {at:5.0f} s: {stats.served} served, RSS {live.rss_mb():.1f} MB", flush=True)

        print(f"soak: {args.seconds:.0f} s at {args.rate:.0f} req/s, {args.callers} callers, "
              f"hostile share {args.hostile_share:.0%}", flush=True)
        if args.subscribers:
            print(f"subscriptions: {args.subscribers} dashboards coming and going, "
                  f"{args.change_rate:.0f} changes/s", flush=True)
        started = time.perf_counter()
        subscriptions = SubscriptionStats()
        await asyncio.gather(
            run_load(server.port, mix, schedule, args.rate, args.callers, args.seconds,
                     warmup, stats, on_warm=on_warm, progress=progress),
            run_subscriptions(server.port, redis_server.url, ks.symbols, mix.pro_key,
                              args.subscribers, args.change_rate, args.seconds, warmup,
                              subscriptions, args.seed))
        elapsed = time.perf_counter() - started
        rss["end"] = server.rss_mb()
        rss.setdefault("warm", rss["end"])
        redis_mb["end"] = redis_used_mb(redis_server.port)
        alive = server.process.poll() is None
        server.stop()
        log_bytes = server.log.stat().st_size
        return report(args, mix, stats, subscriptions, rss, redis_mb, elapsed, log_bytes, alive)
    finally:
        if server is not None:
            server.stop()
        redis_server.stop()


async def probe(port: int, mix: Mix) -> int:
    """Each kind once, on a fresh connection: its status and time (``--probe``)."""
    for kind, build in {**mix.legit, **mix.hostile}.items():
        raw = build()
        connection = Connection(port)
        started = time.perf_counter()
        try:
            status, body = await connection.exchange(raw)
            outcome = f"{status} {body[:120]!r}"
        except (Lost, StaleClose) as exc:
            outcome = f"lost ({exc})"
        connection.close()
        print(f"{kind:<20}{len(raw):>9} B {1000 * (time.perf_counter() - started):9.1f} ms  {outcome}",
              flush=True)
    return 0


def report(args: argparse.Namespace, mix: Mix, stats: Stats, subscriptions: SubscriptionStats,
           rss: dict[str, float], redis_mb: dict[str, float], elapsed: float, log_bytes: int,
           alive: bool) -> int:
    sent = sum(sum(c.values()) for c in stats.statuses.values())
    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"requests: {sent} sent of {args.rate * args.seconds:.0f} offered "
          f"({args.rate:.0f}/s), {stats.served} served in {elapsed:.0f} s "
          f"({stats.served / elapsed:.0f}/s)")
    everything: Counter[str] = Counter()
    for counts in stats.statuses.values():
        everything.update(counts)
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(everything.items())))
    print(f"\n{'kind':<20}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    legit_latencies: list[float] = []
    for kind in [*mix.legit, *mix.hostile]:
        if kind not in stats.statuses:
            continue
        of_kind = stats.statuses[kind]
        samples = stats.latencies.get(kind, [])
        if kind in mix.legit:
            legit_latencies += samples
        p50 = f"{statistics.median(samples):9.2f}" if samples else f"{'-':>9}"
        p99 = f"{percentile(samples, 0.99):9.2f}" if samples else f"{'-':>9}"
        print(f"{kind:<20}{sum(of_kind.values()):>8}{p50}{p99}  "
              + ", ".join(f"{k} {v}" for k, v in sorted(of_kind.items())))
    if legit_latencies:
        print(f"{'legitimate, all':<20}{len(legit_latencies):>8}"
              f"{statistics.median(legit_latencies):9.2f}{percentile(legit_latencies, 0.99):9.2f}"
              "  (after warm-up)")
    for reason, count in stats.lost_reasons.most_common(10):
        print(f"lost: {reason} x{count}")
    for kind, count in stats.stale_after.most_common():
        print(f"kept-alive connection closed silently after {kind}: x{count} (retried)")
    for (kind, label), body in sorted(stats.examples.items()):
        if kind in mix.legit or label.startswith("5"):
            print(f"example {kind} {label}: {body!r}")
    if args.subscribers:
        lat = subscriptions.latencies
        print(f"\nsubscriptions: {subscriptions.appended} changes appended, "
              f"{subscriptions.sessions} sessions completed, {subscriptions.delivered} deliveries"
              + (f", latency p50 {statistics.median(lat):.2f} ms p99 {percentile(lat, 0.99):.2f} ms"
                 " (after warm-up)" if lat else ""))
    growth = rss["end"] / rss["warm"] - 1.0
    rss_ok = growth <= 0.10
    print(f"\nserver RSS: {rss['start']:.1f} MB at start, {rss['warm']:.1f} MB after warm-up, "
          f"{rss['end']:.1f} MB at the end ({growth:+.1%} after warm-up: "
          + ("reported only in a smoke" if args.smoke else
             f"{'pass' if rss_ok else 'FAIL'}, limit +10%") + ")")
    print(f"redis used_memory: {redis_mb['start']:.1f} MB at start, {redis_mb['end']:.1f} MB at the end")
    print(f"server log: {log_bytes} bytes; server {'alive' if alive else 'DEAD'} at the end")

    failures: list[str] = subscription_failures(subscriptions, args.subscribers)
    if not alive:
        failures.append("the server died")
    for kind, counts in stats.statuses.items():
        bad = {k: v for k, v in counts.items() if k == "lost" or k.startswith("5")}
        if kind in mix.legit:
            bad = {k: v for k, v in counts.items() if k != "200"}
        silent = stats.stale_after.get(kind, 0)
        if silent:
            bad["closed silently after"] = silent
        if bad and (kind in mix.legit or kind not in KNOWN_ISSUES):
            failures.append(f"{kind}: {bad}")
        elif bad:
            print(f"known, not failed yet: {kind}: {bad} (issue 9 {KNOWN_ISSUES[kind]})")
    if args.smoke:
        for failure in failures:
            print(f"SMOKE FAIL {failure}")
        print("smoke: " + ("FAIL" if failures else "pass"))
        return 1 if failures else 0
    for failure in failures:
        print(f"FAIL {failure}")
    return 0 if rss_ok and not failures else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the load (600)")
    parser.add_argument("--smoke", action="store_true",
                        help="exit 1 on any 5xx, lost or refused legitimate request; RSS only reported")
    parser.add_argument("--rate", type=float, help="requests per second offered (150; smoke 100)")
    parser.add_argument("--callers", type=int, help="concurrent connections (32; smoke 16)")
    parser.add_argument("--hostile-share", type=float, default=0.05,
                        help="share of hostile requests, 0-1 (0.05)")
    parser.add_argument("--hostile-kinds", default="",
                        help="comma-separated hostile kinds to send (default: all)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default: min(60, seconds/5))")
    parser.add_argument("--symbols", type=int, default=keyspace.SEED_SYMBOLS,
                        help="symbols in the keyspace (seed scale)")
    parser.add_argument("--seed", type=int, default=9, help="seed of the fixed mix")
    parser.add_argument("--subscribers", type=int,
                        help="WebSocket dashboards subscribing and leaving (20; smoke 4; 0: none)")
    parser.add_argument("--change-rate", type=float, default=20.0,
                        help="regime changes appended to argus:events per second (20)")
    parser.add_argument("--log", type=Path, help="keep the server's log in this file")
    parser.add_argument("--probe", action="store_true",
                        help="send each kind once and print its status and time, then stop")
    args = parser.parse_args()
    args.rate = args.rate or (100.0 if args.smoke else 150.0)
    args.callers = args.callers or (16 if args.smoke else 32)
    if args.subscribers is None:
        args.subscribers = 4 if args.smoke else 20
    if not 0.0 <= args.hostile_share <= 1.0:
        parser.error("--hostile-share is a fraction between 0 and 1")
    # A background job stopped with SIGTERM still kills the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="argus-soak-") as tmp:
        code = asyncio.run(soak(args, Path(tmp)))
    sys.exit(code)


if __name__ == "__main__":
    main()
