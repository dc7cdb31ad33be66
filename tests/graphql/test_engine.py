"""``graphql.engine.Engine``: the one executor, compiled or graphql-core, and caches of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from graphql import DocumentNode, GraphQLError, parse

from argus.data.store import Store, create_client
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.engine import Engine, refused_for_tokens
from argus.graphql.schema import schema
from argus.http.context import Context
from argus.settings import Settings
from argus.symbols import Normalizer
from tests.queries import BATCH, FULL_ONE
from tests.seed import full_symbol

FALLBACK = '{ symbol(symbol: "BTC") { ... on Symbol { symbol } } }'


def test_the_parsers_token_refusal_is_told_from_a_syntax_error() -> None:
    """Canary: graphql-core names its token bound only in the message ``refused_for_tokens``
    reads; a new wording breaks this test, not a tier's QUERY_TOO_COMPLEX."""
    with pytest.raises(GraphQLError) as long:
        parse("{ " + "a " * 20 + "}", max_tokens=10)
    assert refused_for_tokens(long.value, 10)
    assert not refused_for_tokens(long.value, 11)
    with pytest.raises(GraphQLError) as malformed:
        parse("{ a(", max_tokens=10)
    assert not refused_for_tokens(malformed.value, 10)


def test_the_engine_parses_through_its_cache_and_keeps_parse_errors_from_their_second_use() -> None:
    engine = Engine(graphql_schema(schema))
    document = engine.parse(FULL_ONE, 100)
    assert isinstance(document, DocumentNode) and engine.parse(FULL_ONE, 100) is document
    text = "{ " + "a " * 200 + "}"
    refused = engine.parse(text, 100)
    assert isinstance(refused, GraphQLError) and refused_for_tokens(refused, 100)
    again = engine.parse(text, 100)  # parsed again: junk sent once is never kept
    assert again is not refused and engine.parse(text, 100) is again


def test_two_engines_share_no_cache() -> None:
    built = graphql_schema(schema)
    first, second = Engine(built), Engine(built)
    assert first.compiler is not second.compiler
    document = first.parse(FULL_ONE, 1_000)
    assert isinstance(document, DocumentNode)
    assert first.compiler.shape(document, None) is not None
    assert len(first.parse.cache) == 1 and len(first.compiler._shapes) == 1  # type: ignore[attr-defined]
    assert len(second.parse.cache) == 0 and len(second.compiler._shapes) == 0  # type: ignore[attr-defined]
    assert second.parse(FULL_ONE, 1_000) is not document


@pytest.fixture
async def context(settings: Settings, sync_redis: redis.Redis) -> AsyncIterator[Any]:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", ["BINANCE:ETH-USDT"])
    client = create_client(settings)
    try:
        # One clock for both runs: ages are then the same on both paths.
        yield lambda: Context(settings, Store(client, settings), Normalizer.from_settings(settings),
                              clock=lambda: 1_795_000_100.0)
    finally:
        await client.aclose()


@pytest.mark.parametrize(("query", "variables", "compiled"), [
    (FULL_ONE, {"s": "BTC"}, True),
    (BATCH, {"s": ["BTC", "NOPE"]}, True),
    (FALLBACK, None, False),
])
async def test_a_hot_shape_runs_compiled_and_any_other_on_graphql_core(
        context: Any, monkeypatch: pytest.MonkeyPatch, query: str,
        variables: dict[str, Any] | None, compiled: bool) -> None:
    engine = Engine(graphql_schema(schema))
    ran: list[str] = []
    real_compiled, real_core = engine.compiler.execute, engine.execute_graphql_core

    async def spy_compiled(*args: Any) -> Any:
        result = await real_compiled(*args)
        ran.append("compiled" if result is not None else "declined")
        return result

    async def spy_core(*args: Any, **kwargs: Any) -> Any:
        ran.append("graphql-core")
        return await real_core(*args, **kwargs)

    monkeypatch.setattr(engine.compiler, "execute", spy_compiled)
    monkeypatch.setattr(engine, "execute_graphql_core", spy_core)
    document = engine.parse(query)
    assert isinstance(document, DocumentNode)
    served = await engine.execute(document, context(), variables, None)
    assert ran == (["compiled"] if compiled else ["declined", "graphql-core"])
    reference = await real_core(document, context(), variables, None)
    assert served.data == reference.data
    assert [e.formatted for e in served.errors or ()] == [e.formatted for e in reference.errors or ()]


def test_the_engine_is_the_only_caller_of_the_compiled_path() -> None:
    from tests.test_layers import PACKAGE, imported, module_name

    callers = {module_name(path) for path in PACKAGE.rglob("*.py")
               if "argus.graphql.compiled" in imported(path)}
    assert callers == {"argus.graphql.engine"}


def test_a_change_is_built_once_for_its_subscribers_and_freed_without_the_collector() -> None:
    import gc
    import weakref

    from argus.data.events import Event
    from argus.graphql.types import RegimeChange

    event = Event("1-0", "BINANCE:BTC-USDT", "1h", "ranging", None, 1.0)
    change = RegimeChange.of(event)
    assert RegimeChange.of(event) is change  # every subscriber of the event gets this one
    assert RegimeChange.shared_of(change) is event.shared
    assert RegimeChange.page_of(change) is event.page
    gone = weakref.ref(change)
    gc.disable()
    try:
        del event, change
        assert gone() is None  # no reference cycle holds a delivered event until a collection
    finally:
        gc.enable()
