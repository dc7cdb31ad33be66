"""Redis round trips per query, counted on the wire in front of a real redis-server.

The budget (``internal`` policy, after warm-up): two rounds per query level, one
discovery and one fetch, whether the query names 1 or 1,000 symbols; selecting only
``partner { symbol }`` costs nothing more; a nested ``partner { regime … }`` level costs
one more pair, batching every partner of that level.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from argus import keys
from argus.http.app import create_app
from argus.settings import Settings
from tests.conftest import gql
from tests.redis_server import RedisServer
from tests.round_trip_proxy import RoundTripProxy
from tests.seed import full_symbol

SYMBOLS = [f"EQ{i:04d}" for i in range(1_000)]


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[RoundTripProxy, redis.Redis]]:
    server = RedisServer().start()
    r = redis.Redis.from_url(server.url)
    for i, symbol in enumerate(SYMBOLS):
        full_symbol(r, symbol, [SYMBOLS[(i + 1) % len(SYMBOLS)], SYMBOLS[(i + 2) % len(SYMBOLS)]])
    proxy = RoundTripProxy(server.port).start()
    yield proxy, r
    proxy.stop()
    r.close()
    server.stop()


@pytest.fixture(scope="module")
def client(proxied: tuple[RoundTripProxy, redis.Redis]) -> Iterator[TestClient]:
    proxy, _ = proxied
    settings = Settings.from_env({}, redis_url=proxy.url, anonymous_tier="internal",
                                 universe_refresh=3_600.0)
    with TestClient(create_app(settings)) as c:
        gql(c, '{ symbol(symbol: "EQ0000") { symbol } }')  # warm-up: connect + handshake
        yield c


def rounds_for(proxy: RoundTripProxy, client: TestClient, query: str) -> int:
    proxy.reset()
    body = gql(client, query)
    assert "errors" not in body, body
    return proxy.rounds


@pytest.mark.parametrize("count", [1, 100, 1_000])
def test_a_query_costs_two_round_trips_whatever_its_symbol_count(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient, count: int) -> None:
    proxy, _ = proxied
    names = ", ".join(f'"{s}"' for s in SYMBOLS[:count])
    query = f"{{ symbols(symbols: [{names}]) {{ symbol regime {{ label confidence }} novelty {{ score }} correlations {{ coefficient }} }} }}"
    assert rounds_for(proxy, client, query) == 2
    discovery, fetch = proxy.commands()
    assert [c[0].upper() for c in discovery] == [b"SMEMBERS"] * count
    assert len(fetch) == count * (8 + 1 + 2)


def test_a_single_symbol_query_costs_two_round_trips(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    assert rounds_for(proxy, client, '{ symbol(symbol: "eq0001") { regime { label } novelty { score } } }') == 2


def test_the_fetch_asks_only_for_the_selected_namespaces(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    names = ", ".join(f'"{s}"' for s in SYMBOLS[:100])
    assert rounds_for(proxy, client, f"{{ symbols(symbols: [{names}]) {{ regime {{ label }} }} }}") == 2
    _, fetch = proxy.commands()
    assert {c[0].upper() for c in fetch} == {b"HGETALL"}
    assert len(fetch) == 800


def test_selecting_only_the_partner_symbol_costs_no_extra_round(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    query = '{ symbols(symbols: ["EQ0001", "EQ0002"]) { correlations { partner { symbol input } coefficient } } }'
    assert rounds_for(proxy, client, query) == 2


def test_a_nested_partner_level_adds_one_pair_of_rounds_for_all_partners(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    names = ", ".join(f'"{s}"' for s in SYMBOLS[:100])
    query = (f"{{ symbols(symbols: [{names}]) {{ correlations {{ partner {{ symbol regime {{ label }} "
             f"novelty {{ score }} }} }} }} }}")
    assert rounds_for(proxy, client, query) == 4
    _, _, discovery, fetch = proxy.commands()
    # Partners are EQ0001..EQ0101; the root level already discovered all but two of them.
    assert sorted(c[1] for c in discovery) == [keys.index(s).encode() for s in ("EQ0100", "EQ0101")]
    assert len(fetch) == 101 * (8 + 1)


def test_two_nested_partner_levels_cost_six_rounds(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    query = ('{ symbol(symbol: "EQ0500") { correlations { partner { correlations { partner '
             '{ novelty { score } } } } } } }')
    assert rounds_for(proxy, client, query) == 6


def test_the_rest_route_costs_two_round_trips(
        proxied: tuple[RoundTripProxy, redis.Redis], client: TestClient) -> None:
    proxy, _ = proxied
    proxy.reset()
    assert client.get("/api/intelligence/eq0007").status_code == 200
    assert proxy.rounds == 2
