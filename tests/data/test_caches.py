"""Every in-process cache of what callers send holds a bounded number of bytes.

Bounded by count alone, each distinct large query used to keep about twice its size for
good. Measured two ways after 100 distinct 1 MB queries and after 100 more: the caches'
own accounting, and what the process holds; tracemalloc checks that the accounting's
estimate of a document never undercounts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
import redis
from graphql import GraphQLError, parse
from starlette.testclient import TestClient

from argus.data.bounded_cache import ENTRY_OVERHEAD, BoundedCache, document_bytes
from argus.graphql import compiled
from argus.http.app import create_app
from argus.policy.auth import Caller
from argus.settings import Settings
from argus.symbols import Normalizer
from tests.seed import full_symbol

MB = 1_000_000


def padded(query: str, i: int, size: int = MB) -> str:
    """``query`` made distinct by ``i`` and ``size`` characters long by blanks."""
    head = f"{query}\n# {i}\n"
    return head + " " * (size - len(head))


#: Each kind of large request reaches different caches: a valid query (parse, validation,
#: compiled shape, cache hints), one that fails validation (its errors keep the document's
#: tokens), one that fails to parse after 1 MB (the error kept the parser through its
#: traceback). Padded with blanks, which graphql-core's lexer skips fastest.
KINDS: list[Callable[[int], str]] = [
    lambda i: padded('{ symbol(symbol: "BTC") { regime { label } } }', i),
    lambda i: padded("{ nope { label } }", i),
    lambda i: padded('{ symbol(symbol: "BTC") { symbol }', i),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A budget that can hold 1 MB documents (an entry may take a sixteenth of it); the
    # default (8 MiB) keeps none that large, which would leave these caches nothing to hold.
    return settings.with_(cache_bytes=32 * 1_048_576)


@pytest.fixture
def client(settings: Settings, sync_redis: redis.Redis) -> Iterator[TestClient]:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    with TestClient(create_app(settings)) as c:
        yield c


def held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def resident() -> int:
    """The process's resident bytes once freed memory went back to the system: 1 MB texts
    are malloc'd, so this counts them exactly enough (tracemalloc, tracing every int the
    lexer makes, would make 200 parses of 1 MB take ten minutes)."""
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


def send(client: TestClient, start: int, count: int) -> None:
    for i in range(start, start + count):
        query = KINDS[i % len(KINDS)](i)
        response = client.post("/graphql", json={"query": query})
        assert response.status_code == 200, response.text[:200]
        del query, response


def caches_of(client: TestClient) -> dict[str, BoundedCache[Any, Any]]:
    view = client.app.state.view  # type: ignore[attr-defined]
    policy = view.policy
    return {"parse": view.engine.parse.cache, "validation": policy.validate._cache,
            "hints": policy._hints, "compiled": view.engine.compiler._shapes,
            "apq": policy.persisted._memory}


def test_caches_hold_bounded_bytes_after_100_then_200_distinct_1mb_queries(
        client: TestClient, settings: Settings) -> None:
    send(client, 0, 6)  # warm-up: every lazily built cache exists
    before = resident()
    send(client, 6, 100)
    after_100 = resident()
    send(client, 106, 100)
    after_200 = resident()
    # Not growing: the second hundred adds no more than a few entries' churn (unbounded,
    # each kept at least its 1 MB text: +100 MB).
    assert after_200 - after_100 < 20 * MB, (before, after_100, after_200)
    caches = caches_of(client)
    # Bounded, by the caches' own accounting, within their budgets.
    for name, cache in caches.items():
        assert cache.bytes <= settings.cache_bytes, name
    assert after_200 - before < sum(c.bytes for c in caches.values()) + 20 * MB
    # Remembering still works: the budget holds many 1 MB documents, once callers repeat
    # them (each is kept from its second use on: the caches admit on reuse).
    send(client, 190, 10)
    assert caches["parse"].bytes > 8 * MB and len(caches["parse"]) >= 8


def test_large_documents_sent_once_fill_no_cache_and_a_repeated_one_is_kept_from_its_second_use(
        client: TestClient) -> None:
    send(client, 0, 6)
    caches = caches_of(client)
    held = {name: len(cache) for name, cache in caches.items()}
    send(client, 6, 40)  # forty distinct 1 MB documents, each sent once
    assert {name: len(cache) for name, cache in caches.items()} == held
    query = KINDS[0](999)
    parse = caches["parse"]
    for expected in (0, 1, 1):
        assert client.post("/graphql", json={"query": query}).status_code == 200
        assert len(parse) - held["parse"] == expected


def test_small_refused_documents_sent_once_fill_no_cache_and_a_repeated_one_is_kept(
        client: TestClient) -> None:
    """Junk with a new suffix each time (what an attacker sends) is refused, but only
    remembered once it comes again: 30 KB texts that are not GraphQL used to fill the parse
    cache, and invalid documents the validation cache."""
    send(client, 0, 1)
    caches = caches_of(client)
    held = {name: len(cache) for name, cache in caches.items()}
    for i in range(50):
        assert client.post("/graphql", json={"query": f"not graphql {i} " + "z" * 30_000}
                           ).json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert {name: len(cache) for name, cache in caches.items()} == held
    for i in range(50):
        assert client.post("/graphql", json={"query": f"{{ nope{i} }}"}
                           ).json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(caches["validation"]) == held["validation"]
    parse_before = len(caches["parse"])
    for expected in (0, 1, 1):
        client.post("/graphql", json={"query": "not graphql again"})
        client.post("/graphql", json={"query": "{ nope }"})
        assert len(caches["validation"]) - held["validation"] == expected
        # "{ nope }" parses, so its document is kept at once; the parse error from the second use.
        assert len(caches["parse"]) - parse_before == 1 + expected


def test_a_small_document_is_kept_at_once(client: TestClient) -> None:
    parse = caches_of(client)["parse"]
    before = len(parse)
    query = '{ symbol(symbol: "BTC") { regime { label } } }'
    assert client.post("/graphql", json={"query": query}).status_code == 200
    assert len(parse) == before + 1


def test_a_stream_of_large_distinct_keys_never_evicts_the_hot_ones() -> None:
    # Entries up to 2,000 bytes; above 500 (a quarter) only from their second use.
    cache: BoundedCache[str, int] = BoundedCache(32_000, 10, admit_on_reuse=True)
    assert cache.put("small", 0, 500 - ENTRY_OVERHEAD)
    for _ in range(2):
        cache.put("hot", 1, 1_000)
    for i in range(1_000):
        assert not cache.put(f"once-{i}", i, 1_000)
    assert cache.get("hot") == 1 and cache.get("small") == 0 and len(cache) == 2


def test_a_parse_error_in_the_cache_keeps_its_source_not_its_tokens() -> None:
    from argus.graphql._strawberry_compat import graphql_schema
    from argus.graphql.engine import Engine
    from argus.graphql.schema import schema

    engine = Engine(graphql_schema(schema), max_tokens=50_001)
    text = "{ " + "a " * 600_000 + "}"
    tracemalloc.start()
    try:
        before = held()
        refused = engine.parse(text)
        after = held()
    finally:
        tracemalloc.stop()
    assert isinstance(refused, GraphQLError)
    assert after - before < 100_000  # the parser's 50,001 tokens: ~28 MB
    assert engine.parse.cache.bytes <= document_bytes(refused) + 1_000  # type: ignore[attr-defined]


def test_document_bytes_never_undercounts_what_a_document_holds() -> None:
    texts = [
        "{ " + " ".join(f"a{i}" for i in range(20_000)) + " }",
        "{ " + " ".join(f'x{i}: symbol(symbol: "BTC") {{ regime {{ label }} }}'
                        for i in range(2_000)) + " }",
        '{ symbols(symbols: [' + ",".join('"BTC"' for _ in range(20_000)) + "]) { symbol } }",
        "{ __typename }\n#" + "x" * MB,  # one comment: its token copies the text
    ]
    for text in texts:
        tracemalloc.start()
        try:
            before = held()
            document = parse(text, max_tokens=100_000)
            measured = held() - before
        finally:
            tracemalloc.stop()
        # The text itself was allocated before tracing started, so count it on top.
        assert measured + len(text) <= document_bytes(document), text[:40]
        del document


def test_apq_memory_is_bounded_by_bytes(redis_url: str, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    settings = Settings.from_env({}, redis_url=redis_url, anonymous_tier="internal",
                                 universe_refresh=3_600.0, cache_bytes=2 * 1_048_576)
    with TestClient(create_app(settings)) as client:
        memory = client.app.state.view.policy.persisted._memory  # type: ignore[attr-defined]
        sizes: list[int] = []
        for rounds in (100, 100):
            for i in range(len(sizes) * 100, len(sizes) * 100 + rounds):
                query = padded('{ symbol(symbol: "BTC") { regime { label } } }', i, 60_000)
                sha = hashlib.sha256(query.encode()).hexdigest()
                response = client.post("/graphql", json={
                    "query": query,
                    "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}})
                assert "errors" not in response.json()
            sizes.append(memory.bytes)
        assert sizes[0] <= settings.cache_bytes and sizes[1] <= settings.cache_bytes
        assert 10 <= len(memory) < 200  # it still remembers many; just not without bound


def test_blank_padded_symbols_are_normalized_but_not_remembered() -> None:
    normalizer = Normalizer.from_settings(Settings.from_env({}))
    for i in range(100):
        assert normalizer.normalize(" " * (MB + i) + "BTC") == "BINANCE:BTC-USDT"
    assert normalizer._memo.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert normalizer.normalize("btc") == "BINANCE:BTC-USDT"
    assert normalizer._memo.cache_info().currsize == 1  # type: ignore[attr-defined]


def test_the_cache_evicts_the_oldest_entries_past_its_bytes() -> None:
    cache: BoundedCache[str, str] = BoundedCache(max_bytes=10_000, max_entries=100)
    for i in range(50):
        assert cache.put(f"k{i}", "v", 600 - ENTRY_OVERHEAD)  # 600 with the overhead: 16 fit
    assert cache.bytes <= 10_000 and len(cache) == 16
    assert cache.get("k0") is None and cache.get("k49") == "v"
    assert not cache.put("huge", "v", 5_000)  # above a sixteenth: never kept
    assert cache.get("huge") is None


def test_validation_results_hold_no_more_than_the_cache_counts_for_them() -> None:
    """A remembered verdict is keyed by its variables' shape; the key is what the cache
    counts, so it must not hold more than its length (orjson's output buffer holds 4 KB)."""
    from argus.graphql._strawberry_compat import graphql_schema
    from argus.graphql.schema import schema
    from argus.policy.limits import Validator
    from argus.policy.tiers import DEFAULT_TIERS

    internal = next(tier for tier in DEFAULT_TIERS if tier.name == "internal")
    query = "query($s: [String!]!) { symbols(symbols: $s) { regime { label } } }"
    document = parse(query)
    validator = Validator(graphql_schema(schema))
    validator(query, document, internal, {"s": ["BTC"] * 1000})  # first-use state, uncounted
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        for n in range(1, 401):  # 400 list lengths: 400 verdicts
            validator(query, document, internal, {"s": ["BTC"] * n})
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Left out: the names graphql-core's visitor looks its handlers up by, which CPython's
    # type attribute cache (4,096 entries, process-wide) keeps in place of older ones.
    visitor = [tracemalloc.Filter(False, "*/graphql/language/visitor.py")]
    measured = sum(stat.size_diff for stat in after.filter_traces(visitor).compare_to(
        before.filter_traces(visitor), "filename"))
    counted = validator._cache.bytes
    assert len(validator._cache) == 401
    assert measured <= counted, (measured, counted)


def test_timestamps_rendered_by_the_compiled_path_are_remembered_within_a_bound() -> None:
    """The compiled path remembers ISO texts of recent times (a writer stamps many values
    alike); a keyspace whose every value has its own time must not grow it for good."""
    compiled._iso.cache_clear()
    tracemalloc.start()
    try:
        before = held()
        for i in range(100_000):
            compiled._iso(1_700_000_000.0 + i / 1000)
        measured = held() - before
    finally:
        tracemalloc.stop()
        compiled._iso.cache_clear()
    assert measured < 2 * MB, measured


def test_an_operations_hint_is_kept_by_its_text_from_the_second_use_of_the_text(
        client: TestClient) -> None:
    """Keyed by the text, not by the parsed operation's ``id()``: a freed document's address
    comes back for the next one, which the doorkeeper took for a second use (this test's
    large documents sent once were flaky under load), and the same text parsed anew is one."""
    policy = client.app.state.view.policy  # type: ignore[attr-defined]
    caller = Caller(policy.tiers["free"], "test", "anonymous")
    hints = policy._hints
    # Large by its text (a comment), which is what the entry keeps alive.
    query = '{ a0: symbol(symbol: "BTC") { novelty { score } } }\n#' + "z" * (
        hints.max_entry_bytes // 2)
    assert hints.max_entry_bytes // 4 < len(query) + ENTRY_OVERHEAD <= hints.max_entry_bytes
    held = len(hints)
    kept_docs = []
    for expected in (0, 1, 1):
        document = parse(query)  # a new document and operation object each time, all alive
        kept_docs.append(document)
        operation = document.definitions[0]
        policy.max_age(caller, document, operation)
        assert len(hints) - held == expected
    other = parse(query.replace("a0:", "b0:"))
    policy.max_age(caller, other, other.definitions[0])
    assert len(hints) - held == 1


def test_a_compiled_shape_is_kept_by_its_text_and_found_for_the_same_text_parsed_anew(
        client: TestClient) -> None:
    compiler = client.app.state.view.engine.compiler  # type: ignore[attr-defined]
    shapes = compiler._shapes
    held = len(shapes)
    query = '{ a0: symbol(symbol: "BTC") { novelty { score } } }'
    kept_docs = [parse(query) for _ in range(3)]  # three documents of one text, all alive
    found = [compiler.shape(document, None) for document in kept_docs]
    assert found[0] is not None and found[1] is found[0] and found[2] is found[0]
    assert len(shapes) - held == 1
