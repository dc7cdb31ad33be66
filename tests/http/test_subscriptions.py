"""Subscriptions (``regimeChanges``) over graphql-transport-ws and GraphQL over SSE, on the app
and a real redis-server: delivery, filters, resume, credentials, limits, errors, shut-down."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from argus import keys
from argus.http import subscriptions
from argus.http.app import create_app
from argus.settings import Settings
from tests.live_server import graphql_ws
from tests.policy.test_api_keys import add_key
from tests.processes import running, wait_until_healthy
from tests.redis_server import RedisServer, free_port
from tests.tokens import Issuer, bearer
from tests.writer.test_redis_writer import output, writer

BTC, ETH = "BINANCE:BTC-USDT", "BINANCE:ETH-USDT"
CHANGES = """subscription($symbols: [String!]!, $timeframes: [Timeframe!], $after: String) {
  regimeChanges(symbols: $symbols, timeframes: $timeframes, after: $after) {
    id label previous timeframe computedAt symbol { symbol regime { timeframe label } } } }"""
IDS = "subscription($after: String) { regimeChanges(symbols: [\"BTC\"], after: $after) { id } }"
SSE = {"accept": "text/event-stream"}


def app_of(redis_url: str, **overrides: Any) -> Starlette:
    return create_app(Settings.from_env({}, redis_url=redis_url, universe_refresh=3_600.0,
                                        **overrides))


@pytest.fixture
def app(redis_url: str) -> Starlette:
    return app_of(redis_url)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def connect(client: TestClient, **headers: str) -> Any:
    return client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                    headers=headers)


def init(ws: Any, payload: dict[str, Any] | None = None) -> None:
    ws.send_json({"type": "connection_init", **({} if payload is None else {"payload": payload})})
    assert ws.receive_json() == {"type": "connection_ack"}


def subscribe(ws: Any, op_id: str, query: str = CHANGES, **variables: Any) -> None:
    ws.send_json({"id": op_id, "type": "subscribe",
                  "payload": {"query": query, "variables": {"symbols": ["BTC"], **variables}}})


@contextlib.contextmanager
def live(client: TestClient, app: Starlette, **variables: Any) -> Iterator[Any]:
    """A WebSocket with operation "1" subscribed to ``CHANGES`` and registered with the feed."""
    with connect(client) as ws:
        init(ws)
        subscribe(ws, "1", **variables)
        subscribed(app)
        yield ws


def closed_with(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def subscribed(app: Starlette, count: int = 1) -> None:
    """Wait until the app's feed holds ``count`` subscribers."""
    feed = app.state.runtime.events
    for _ in range(500):
        if feed.count == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{feed.count} subscribers, not {count}")


def write(redis_url: str, symbol: str, labels: dict[str, str]) -> None:
    """Through the real writer: regime hashes, then XADD argus:events for each change."""
    writer(redis_url).write([output(symbol, labels, [])])


def stream_ids(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        entries = client.xrange(keys.EVENTS)
        assert entries is not None  # redis-py types XRANGE's answer as optional
        return [keys.text(i) for i, _ in entries]
    finally:
        client.close()


# --- delivery ---------------------------------------------------------------------------------

def test_a_change_the_writer_appends_reaches_a_websocket_subscriber_with_its_symbol(
        app: Starlette, client: TestClient, redis_url: str) -> None:
    with live(client, app) as ws:
        write(redis_url, BTC, {"1h": "trending_up"})
        message = ws.receive_json()
        assert message["type"] == "next" and message["id"] == "1"
        change = message["payload"]["data"]["regimeChanges"]
        assert change["id"] == stream_ids(redis_url)[-1]
        assert {k: change[k] for k in ("label", "previous", "timeframe", "computedAt")} == {
            "label": "trending_up", "previous": None, "timeframe": "H1",
            "computedAt": "2026-11-18T11:06:40.500000+00:00"}
        # Resolved as Query.symbol is: the regime the writer stored with the change.
        assert change["symbol"] == {"symbol": BTC,
                                    "regime": [{"timeframe": "H1", "label": "trending_up"}]}
        write(redis_url, BTC, {"1h": "ranging"})
        again = ws.receive_json()["payload"]["data"]["regimeChanges"]
        assert (again["label"], again["previous"]) == ("ranging", "trending_up")
        assert again["symbol"]["regime"] == [{"timeframe": "H1", "label": "ranging"}]


def test_the_same_change_reaches_an_sse_subscriber(
        app: Starlette, client: TestClient, redis_url: str) -> None:
    def change_once_subscribed() -> None:
        subscribed(app)
        write(redis_url, BTC, {"1d": "volatile"})

    later = threading.Thread(target=change_once_subscribed)
    later.start()
    with client.stream("POST", "/graphql", json={"query": CHANGES, "variables": {"symbols": ["btc"]}},
                       headers=SSE) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "private, no-store"
        lines = response.iter_lines()
        assert next(lines) == "event: next"
        data = next(lines)
    later.join()
    assert data.startswith("data: ")
    change = __import__("json").loads(data[len("data: "):])["data"]["regimeChanges"]
    assert (change["label"], change["timeframe"], change["symbol"]["symbol"]) == ("volatile", "D1", BTC)
    subscribed(app, 0)  # the client went away: unsubscribed


def test_a_silent_sse_stream_sends_keep_alive_comments_and_still_delivers(redis_url: str) -> None:
    app = app_of(redis_url, sse_keepalive=0.05)

    def change_after_a_silence() -> None:
        subscribed(app)
        time.sleep(0.3)
        write(redis_url, BTC, {"1d": "volatile"})

    later = threading.Thread(target=change_after_a_silence)
    with TestClient(app) as client:
        later.start()
        with client.stream("POST", "/graphql", json={"query": IDS}, headers=SSE) as response:
            lines = response.iter_lines()
            seen = []
            for line in lines:
                seen.append(line)
                if line.startswith("data: "):
                    break
        later.join()
        subscribed(app, 0)  # leaving the stream unsubscribes, pending read and all
    assert seen.count(": keep-alive") >= 2
    assert seen[-2:] == ["event: next", f'data: {{"data":{{"regimeChanges":{{"id":"{stream_ids(redis_url)[-1]}"}}}}}}']


def test_subscribers_of_one_change_read_its_symbol_from_redis_once(
        app: Starlette, client: TestClient, redis_url: str, sync_redis: redis.Redis) -> None:
    write(redis_url, BTC, {"1h": "ranging"})
    selections = ["label symbol { regime { label } }", "id symbol { regime { timeframe } }",
                  "id symbol { regime { label } }"]
    with connect(client) as ws:
        init(ws)
        for n, selection in enumerate(selections * 2):  # three documents, each twice
            subscribe(ws, str(n), f"subscription {{ regimeChanges(symbols: [\"BTC\"]) {{ {selection} }} }}")
        subscribed(app, 6)
        sync_redis.config_resetstat()
        sync_redis.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                      "label": "ranging", "previous": "", "computed_at": "1"})
        got = [ws.receive_json() for _ in range(6)]
    assert {m["id"] for m in got} == {str(n) for n in range(6)}
    assert all(m["payload"]["data"]["regimeChanges"]["symbol"]["regime"] for m in got)
    stats = sync_redis.info("commandstats")
    # One discovery and one fetch for six subscribers: they share the change's loader.
    assert stats["cmdstat_smembers"]["calls"] == 1
    assert stats["cmdstat_hgetall"]["calls"] == 1


def test_subscribers_of_one_document_share_each_change_s_one_encoding(
        app: Starlette, client: TestClient, redis_url: str, sync_redis: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    encodings: list[bytes] = []
    encode = subscriptions.encoded

    def counted(result: Any) -> bytes:
        encodings.append(encode(result))
        return encodings[-1]

    write(redis_url, BTC, {"1h": "ranging"})
    documents = [f"subscription {{ regimeChanges(symbols: [\"BTC\"]) {{ {selection} }} }}"
                 for selection in ("id label", "id label symbol { regime { label } }")]
    monkeypatch.setattr(subscriptions, "encoded", counted)
    with connect(client) as ws:
        init(ws)
        for n in range(6):  # two documents, three subscribers each
            subscribe(ws, str(n), documents[n % 2])
        subscribed(app, 6)
        for label in ("trending_up", "volatile"):
            sync_redis.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                          "label": label, "previous": "", "computed_at": "1"})
        got = [ws.receive_json() for _ in range(12)]
    assert len(encodings) == 4  # two changes × two documents, not × six subscribers
    by_id: dict[str, list[Any]] = {}
    for message in got:
        by_id.setdefault(message["id"], []).append(message["payload"])
    assert sorted(by_id) == [str(n) for n in range(6)]
    for n in range(6):  # every subscriber got both changes, framed with its own id
        assert by_id[str(n)] == by_id[str(n % 2)]
        assert [p["data"]["regimeChanges"]["label"] for p in by_id[str(n)]] == [
            "trending_up", "volatile"]


def test_a_query_over_sse_is_one_next_event_then_complete(client: TestClient) -> None:
    with client.stream("POST", "/graphql", json={"query": '{ symbol(symbol: "BTC") { symbol } }'},
                       headers=SSE) as response:
        body = response.read().decode()
    assert body.startswith("event: next\ndata: {")
    assert body.endswith("\n\nevent: complete\ndata:\n\n")
    assert '"code":"NOT_FOUND"' in body


def test_a_subscription_over_plain_http_is_refused_with_400(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": IDS})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("A subscription needs a stream")


# --- filters and resume -------------------------------------------------------------------------

def test_only_the_subscribed_symbols_and_timeframes_arrive(
        app: Starlette, client: TestClient, redis_url: str) -> None:
    with live(client, app, symbols=["BTC"], timeframes=["H1"]) as ws:
        write(redis_url, ETH, {"1h": "ranging"})
        write(redis_url, BTC, {"1d": "ranging"})
        write(redis_url, BTC, {"1h": "trending_down"})
        change = ws.receive_json()["payload"]["data"]["regimeChanges"]
        # The first message is the last write: the two before it were filtered out.
        assert (change["symbol"]["symbol"], change["timeframe"], change["label"]) == (
            BTC, "H1", "trending_down")
        assert change["id"] == stream_ids(redis_url)[-1]


def test_resume_with_after_replays_what_followed_then_goes_live_without_gap_or_duplicate(
        app: Starlette, client: TestClient, redis_url: str) -> None:
    for label in ("a", "b", "c"):
        write(redis_url, BTC, {"1h": label})
    first, *rest = stream_ids(redis_url)
    with connect(client) as ws:
        init(ws)
        ws.send_json({"id": "r", "type": "subscribe",
                      "payload": {"query": IDS, "variables": {"after": first}}})
        got = [ws.receive_json()["payload"]["data"]["regimeChanges"]["id"] for _ in rest]
        assert got == rest
        subscribed(app)
        write(redis_url, BTC, {"1h": "d"})
        live = ws.receive_json()["payload"]["data"]["regimeChanges"]["id"]
        assert live == stream_ids(redis_url)[-1] and live not in got


def test_a_burst_of_changes_arrives_whole_and_in_stream_order(
        app: Starlette, client: TestClient, redis_url: str, sync_redis: redis.Redis) -> None:
    write(redis_url, BTC, {"1h": "ranging"})
    write(redis_url, ETH, {"1h": "ranging"})
    with live(client, app, symbols=["BTC", "ETH"]) as ws:  # selects symbol { regime }: awaits Redis
        pipe = sync_redis.pipeline(transaction=True)  # one MULTI, as the writer appends
        for n in range(120):
            pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": (BTC, ETH)[n % 2], "tf": "1h",
                                    "label": f"l{n}", "previous": "", "computed_at": "1"})
        added = [keys.text(i) for i in pipe.execute()]
        got = [ws.receive_json()["payload"]["data"]["regimeChanges"] for _ in added]
    assert [c["id"] for c in got] == added
    assert [c["label"] for c in got] == [f"l{n}" for n in range(120)]
    assert all(c["symbol"]["regime"] == [{"timeframe": "H1", "label": "ranging"}] for c in got)


def test_a_burst_over_sse_goes_out_in_a_few_writes_whole_and_in_order(
        app: Starlette, redis_url: str, sync_redis: redis.Redis) -> None:
    write(redis_url, BTC, {"1h": "ranging"})
    chunks: list[bytes] = []

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def sent(message: Any) -> None:
            if message["type"] == "http.response.body" and b"event: next" in message["body"]:
                chunks.append(message["body"])
            await send(message)

        await app(scope, receive, sent)

    def burst_once_subscribed() -> None:
        subscribed(app)
        pipe = sync_redis.pipeline(transaction=True)  # one MULTI, as the writer appends
        for n in range(120):
            pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                    "label": f"l{n}", "previous": "", "computed_at": "1"})
        pipe.execute()

    later = threading.Thread(target=burst_once_subscribed)
    with TestClient(counting) as client:
        later.start()
        with client.stream("POST", "/graphql", headers=SSE, json={
                "query": CHANGES, "variables": {"symbols": ["BTC"]}}) as response:
            labels = []
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    labels.append(orjson.loads(line[6:])["data"]["regimeChanges"]["label"])
                    if len(labels) == 120:
                        break
        later.join()
    assert labels == [f"l{n}" for n in range(120)]
    # A chunk per batch of executions finished together (at most engine.LOOKAHEAD), not
    # one per change: 120 writes before.
    assert len(chunks) <= 6
    assert sum(c.count(b"event: next") for c in chunks) == 120


def test_a_burst_over_websocket_goes_to_a_server_that_offers_batches_as_a_few_of_them(
        app: Starlette, redis_url: str, sync_redis: redis.Redis) -> None:
    from argus.http.websocket import SEND_BATCH

    write(redis_url, BTC, {"1h": "ranging"})
    batches: list[int] = []

    async def offering(scope: Any, receive: Any, send: Any) -> None:
        """A server offering SEND_BATCH (as ``argus serve``'s protocol does), over the test
        client, which knows only ``websocket.send``."""
        if scope["type"] == "websocket":
            scope = {**scope, "extensions": {**scope.get("extensions", {}), SEND_BATCH: {}}}

        async def sent(message: Any) -> None:
            if message["type"] != SEND_BATCH:
                await send(message)
                return
            batches.append(len(message["texts"]))
            for text in message["texts"]:
                await send({"type": "websocket.send", "text": text.decode()})

        await app(scope, receive, sent)

    with TestClient(offering) as client, live(client, app) as ws:
        pipe = sync_redis.pipeline(transaction=True)  # one MULTI, as the writer appends
        for n in range(120):
            pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                    "label": f"l{n}", "previous": "", "computed_at": "1"})
        added = [keys.text(i) for i in pipe.execute()]
        got = [ws.receive_json() for _ in added]
    assert [(m["id"], m["payload"]["data"]["regimeChanges"]["id"]) for m in got] == [
        ("1", i) for i in added]
    assert sum(batches) >= 100 and len(batches) <= 6  # the burst went in a few batches


def test_a_burst_of_changes_to_many_symbols_loads_them_in_one_batch(
        redis_url: str, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    from argus.data import loaders

    symbols = [f"S{n:02d}" for n in range(40)]
    writer(redis_url).write([output(s, {"1h": "ranging"}, []) for s in symbols])
    batches: list[int] = []
    load = loaders.IntelligenceBySymbolLoader.batch_load_fn

    async def counted(self: Any, requests: Any) -> Any:
        batches.append(len(requests))
        return await load(self, requests)

    monkeypatch.setattr(loaders.IntelligenceBySymbolLoader, "batch_load_fn", counted)
    app = app_of(redis_url, anonymous_tier="internal")
    with TestClient(app) as client, live(client, app, symbols=symbols) as ws:
        pipe = sync_redis.pipeline(transaction=True)  # one MULTI, as the writer appends
        for s in symbols:
            pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": s, "tf": "1h",
                                    "label": "volatile", "previous": "ranging",
                                    "computed_at": "1"})
        added = [keys.text(i) for i in pipe.execute()]
        got = [ws.receive_json()["payload"]["data"]["regimeChanges"] for _ in added]
    assert [c["id"] for c in got] == added
    assert all(c["symbol"]["regime"] == [{"timeframe": "H1", "label": "ranging"}] for c in got)
    # The burst's executions start together, so their symbols load as one batch (one
    # discovery round and one pipeline), not one batch per change.
    assert batches == [len(symbols)]


@pytest.mark.parametrize(("variables", "message"), [
    ({"after": "yesterday"}, "Invalid `after` 'yesterday'"),
    ({"symbols": ["B*T"]}, "Invalid symbol 'B*T'"),
    ({"symbols": []}, "`symbols` must name at least one symbol."),
    ({"timeframes": []}, "`timeframes` must name at least one timeframe"),
])
def test_bad_input_is_one_bad_user_input_result_then_complete(
        client: TestClient, variables: dict[str, Any], message: str) -> None:
    with connect(client) as ws:
        init(ws)
        subscribe(ws, "1", **variables)
        result = ws.receive_json()
        assert result["type"] == "next" and result["payload"]["data"] is None
        [error] = result["payload"]["errors"]
        assert error["message"].startswith(message)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert ws.receive_json() == {"id": "1", "type": "complete"}


def test_a_timeframe_that_is_not_one_is_refused_before_anything_is_delivered(
        client: TestClient) -> None:
    with connect(client) as ws:
        init(ws)
        subscribe(ws, "1", timeframes=["H2"])
        result = ws.receive_json()
        [error] = result["payload"]["errors"]
        assert "Value 'H2' does not exist in 'Timeframe' enum" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert ws.receive_json() == {"id": "1", "type": "complete"}


def test_an_unexpected_error_is_masked_and_logged(
        app: Starlette, client: TestClient, redis_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from argus.graphql import types

    def broken(event: object) -> object:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(types.RegimeChange, "of", broken)
    with live(client, app) as ws:
        write(redis_url, BTC, {"1h": "ranging"})
        result = ws.receive_json()
        assert result["payload"] == {"data": None, "errors": [{
            "message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
        assert ws.receive_json() == {"id": "1", "type": "complete"}
    assert "secret detail" in caplog.text


def test_a_change_that_fails_inside_a_burst_ends_the_stream_after_the_ones_before_it(
        app: Starlette, client: TestClient, redis_url: str, sync_redis: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from argus.graphql import types

    write(redis_url, BTC, {"1h": "ranging"})
    of = types.RegimeChange.of

    def broken_at_l3(event: Any) -> object:
        if event.label == "l3":
            raise RuntimeError("secret detail")
        return of(event)

    monkeypatch.setattr(types.RegimeChange, "of", broken_at_l3)
    with live(client, app) as ws:  # selects symbol { regime }: the burst's executions overlap
        pipe = sync_redis.pipeline(transaction=True)
        for n in range(6):
            pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                    "label": f"l{n}", "previous": "", "computed_at": "1"})
        pipe.execute()
        got = [ws.receive_json() for _ in range(5)]
    assert [m["payload"]["data"]["regimeChanges"]["label"] for m in got[:3]] == ["l0", "l1", "l2"]
    assert got[3]["payload"] == {"data": None, "errors": [{
        "message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    assert got[4] == {"id": "1", "type": "complete"}


def test_bad_input_over_sse_is_one_next_event_then_complete(client: TestClient) -> None:
    with client.stream("POST", "/graphql", headers=SSE, json={
            "query": CHANGES, "variables": {"symbols": ["BTC"], "after": "1-2-3"}}) as response:
        body = response.read().decode()
    assert response.status_code == 200
    assert '"code":"BAD_USER_INPUT"' in body and body.endswith("event: complete\ndata:\n\n")


# --- credentials --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("jwks"))


def test_a_jwt_in_connection_init_sets_the_tier(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client, connect(client) as ws:
        init(ws, {"Authorization": f"Bearer {issuer.token(tier='free')}"})
        subscribe(ws, "1", symbols=[f"S{i}" for i in range(11)])  # free: 10 symbols
        refused = ws.receive_json()
        assert refused["type"] == "error" and refused["id"] == "1"
        assert refused["payload"][0]["message"] == (
            "11 symbols requested. Allowed for the free tier: 10.")
        assert refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        subscribe(ws, "2", symbols=[f"S{i}" for i in range(10)])
        subscribed(client.app, 1)  # type: ignore[arg-type]


def test_an_api_key_in_connection_init_counts_whatever_its_case(redis_url: str) -> None:
    key = add_key(redis_url, "internal", "apex")
    with TestClient(app_of(redis_url)) as client, connect(client) as ws:
        init(ws, {"x-api-KEY": key})
        subscribe(ws, "1", symbols=[f"S{i}" for i in range(50)])  # anonymous would be refused
        subscribed(client.app, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("credential", [
    lambda issuer: {"Authorization": f"Bearer {issuer.token(exp=int(time.time()) - 3600)}"},
    lambda issuer: {"Authorization": f"Bearer {issuer.unsigned()}"},
    lambda issuer: {"authorization": "Basic dXNlcjpwYXNz"},
    lambda issuer: {"X-API-Key": "not-a-key"},
])
def test_a_bad_credential_in_connection_init_closes_with_4401(
        issuer: Issuer, redis_url: str, credential: Callable[[Issuer], dict[str, str]]) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client, connect(client) as ws:
        ws.send_json({"type": "connection_init", "payload": credential(issuer)})
        assert closed_with(ws) == 4401


def test_the_upgrade_requests_own_headers_count(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client:
        with connect(client, **bearer("garbage")) as ws:
            ws.send_json({"type": "connection_init"})
            assert closed_with(ws) == 4401
        with connect(client, **bearer(issuer.token(tier="pro"))) as ws:
            init(ws)


def test_without_credentials_when_auth_is_required_closes_with_4401(redis_url: str) -> None:
    with TestClient(app_of(redis_url, require_auth=True)) as client, connect(client) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert closed_with(ws) == 4401


def test_a_tier_that_may_not_subscribe_closes_with_4403_and_sse_is_400(
        redis_url: str, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[anonymous]\nsubscriptions = false\n")
    with TestClient(app_of(redis_url, tiers_file=tiers)) as client:
        with connect(client) as ws:
            ws.send_json({"type": "connection_init"})
            assert closed_with(ws) == 4403
        response = client.post("/graphql", headers=SSE, json={"query": IDS})
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == (
            "Subscriptions are not allowed for the anonymous tier.")


def test_sse_takes_credentials_from_the_request_headers(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client:
        refused = client.post("/graphql", headers={**SSE, **bearer("garbage")}, json={"query": IDS})
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- protocol and limits ------------------------------------------------------------------------

def test_the_anonymous_tiers_symbol_limit_applies_to_both_transports(client: TestClient) -> None:
    six = [f"S{i}" for i in range(6)]
    with connect(client) as ws:
        init(ws)
        subscribe(ws, "1", symbols=six)
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["payload"][0]["message"] == (
            "6 symbols requested. Allowed for the anonymous tier: 5.")
    response = client.post("/graphql", headers=SSE,
                           json={"query": CHANGES, "variables": {"symbols": six}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_subscriptions_past_the_per_connection_limit_get_an_error(redis_url: str) -> None:
    app = app_of(redis_url, max_subscriptions_per_connection=2)
    with TestClient(app) as client, connect(client) as ws:
        init(ws)
        subscribe(ws, "1")
        subscribe(ws, "2")
        subscribe(ws, "3")
        refused = ws.receive_json()
        assert refused["id"] == "3" and refused["type"] == "error"
        assert refused["payload"][0]["message"] == "3 subscriptions on one connection. Allowed: 2."
        assert refused["payload"][0]["extensions"]["limit"] == "maxSubscriptionsPerConnection"
        subscribed(app, 2)


def test_subscriptions_past_the_server_limit_are_service_unavailable(redis_url: str) -> None:
    app = app_of(redis_url, max_subscriptions=1)
    with TestClient(app) as client, connect(client) as ws:
        init(ws)
        subscribe(ws, "1")
        subscribed(app, 1)
        subscribe(ws, "2")
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        response = client.post("/graphql", headers=SSE, json={"query": IDS})
        assert response.status_code == 503 and "retry-after" in response.headers


def test_an_oversized_message_closes_with_1009(redis_url: str) -> None:
    with TestClient(app_of(redis_url, max_ws_message_bytes=1024)) as client, connect(client) as ws:
        init(ws)
        subscribe(ws, "1", symbols=["BTC"] * 400)
        assert closed_with(ws) == 1009


def test_no_connection_init_in_time_closes_with_4408(redis_url: str) -> None:
    with TestClient(app_of(redis_url, ws_init_timeout=0.2)) as client, connect(client) as ws:
        assert closed_with(ws) == 4408


@pytest.mark.parametrize(("messages", "code"), [
    ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
    ([{"id": "1", "type": "subscribe", "payload": {"query": IDS}}], 4401),
    ([{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": {"query": IDS}},
      {"id": "1", "type": "subscribe", "payload": {"query": IDS}}], 4409),
    (["not json"], 4400),
    ([[1, 2]], 4400),
    ([{"type": "connection_init", "payload": "token"}], 4400),
    ([{"type": "connection_init"}, {"type": "unknown"}], 4400),
    ([{"type": "connection_init"}, {"id": 7, "type": "subscribe", "payload": {"query": IDS}}], 4400),
    ([{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": {"query": 7}}], 4400),
    ([{"type": "connection_init", "payload": {"Authorization": ["Bearer x"]}}], 4400),
])
def test_protocol_violations_close_with_the_protocols_codes(
        client: TestClient, messages: list[Any], code: int) -> None:
    with connect(client) as ws:
        acknowledged = False
        for message in messages:
            if isinstance(message, str):
                ws.send_text(message)
            else:
                ws.send_json(message)
            if message == {"type": "connection_init"} and not acknowledged:
                assert ws.receive_json() == {"type": "connection_ack"}
                acknowledged = True
        assert closed_with(ws) == code


def test_a_binary_message_closes_with_4400(client: TestClient) -> None:
    with connect(client) as ws:
        ws.send_bytes(b'{"type": "connection_init"}')
        assert closed_with(ws) == 4400


def test_without_the_subprotocol_the_socket_closes_with_4406(client: TestClient) -> None:
    with client.websocket_connect("/graphql") as ws:
        assert closed_with(ws) == 4406


def test_ping_is_answered_with_pong(client: TestClient) -> None:
    with connect(client) as ws:
        init(ws)
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_a_query_over_the_socket_is_one_result_then_complete(client: TestClient) -> None:
    with connect(client) as ws:
        init(ws)
        ws.send_json({"id": "q", "type": "subscribe",
                      "payload": {"query": '{ symbol(symbol: "B*T") { symbol } }'}})
        result = ws.receive_json()
        assert result["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert ws.receive_json() == {"id": "q", "type": "complete"}


def test_an_invalid_document_is_an_error_message(client: TestClient) -> None:
    with connect(client) as ws:
        init(ws)
        ws.send_json({"id": "1", "type": "subscribe",
                      "payload": {"query": "subscription { regimeChanges(symbols: [\"BTC\"]) { nope } }"}})
        refused = ws.receive_json()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


# --- unsubscribe, outage, shut-down -------------------------------------------------------------

def test_complete_stops_delivery_and_frees_the_subscriber(
        app: Starlette, client: TestClient, redis_url: str) -> None:
    with live(client, app) as ws:
        ws.send_json({"id": "1", "type": "complete"})
        subscribed(app, 0)
        assert app.state.runtime.events.by_symbol == {}
        subscribe(ws, "2")
        subscribed(app, 1)
        write(redis_url, BTC, {"1h": "ranging"})
        assert ws.receive_json()["id"] == "2"  # nothing more for "1"
    subscribed(app, 0)  # the socket closed: its subscriptions too


def test_a_redis_outage_mid_subscription_is_a_service_unavailable_error() -> None:
    server = RedisServer().start()
    try:
        app = app_of(server.url, redis_connect_timeout=0.2, redis_timeout=0.3)
        with TestClient(app) as client, connect(client) as ws:
            init(ws)
            subscribe(ws, "1")
            subscribed(app, 1)
            server.kill()
            started = time.monotonic()
            result = ws.receive_json()
            assert time.monotonic() - started < 3.0
            assert result["type"] == "next"
            assert result["payload"]["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert ws.receive_json() == {"id": "1", "type": "complete"}
            subscribe(ws, "2")  # Redis still down: refused, never a hang or a 500
            refused = ws.receive_json()
            assert refused["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        server.stop()


def test_a_redis_outage_mid_sse_stream_is_a_service_unavailable_event_then_complete() -> None:
    server = RedisServer().start()
    try:
        app = app_of(server.url, redis_connect_timeout=0.2, redis_timeout=0.3)
        with TestClient(app) as client:
            def kill_once_subscribed() -> None:
                subscribed(app)
                server.kill()

            killer = threading.Thread(target=kill_once_subscribed)
            killer.start()
            with client.stream("POST", "/graphql", headers=SSE, json={"query": IDS}) as response:
                body = response.read().decode()
            killer.join()
        assert response.status_code == 200
        assert body.startswith("event: next\ndata: {")
        assert '"code":"SERVICE_UNAVAILABLE"' in body
        assert body.endswith("event: complete\ndata:\n\n")
    finally:
        server.stop()


def test_shutting_the_feed_down_ends_open_subscriptions_cleanly(
        app: Starlette, client: TestClient) -> None:
    with live(client, app) as ws:
        client.portal.call(app.state.runtime.events.close)  # type: ignore[union-attr]
        result = ws.receive_json()
        assert result["payload"]["errors"][0]["message"] == (
            "The server is shutting down. Resume with `after`.")
        assert ws.receive_json() == {"id": "1", "type": "complete"}


def test_sigterm_closes_open_websockets_and_the_server_exits(redis_url: str) -> None:
    from websockets.exceptions import ConnectionClosed

    port = free_port()
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url, "ARGUS_SHUTDOWN_GRACE": "2"}
    with running([sys.executable, "-m", "argus", "serve", "--port", str(port)], env=env,
                 stdin=subprocess.DEVNULL) as process:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        with graphql_ws(f"http://127.0.0.1:{port}") as ws:
            ws.send('{"id": "1", "type": "subscribe", "payload": {"query": '
                    '"subscription { regimeChanges(symbols: [\\"BTC\\"]) { id } }"}}')
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                drain(ws)
            assert closed.value.rcvd is not None  # a close frame, not a dropped socket
        assert process.wait(15) in (0, -signal.SIGTERM)


def drain(ws: Any) -> None:
    """Receive until the connection closes (each message within 10 s)."""
    while True:
        ws.recv(10)


@pytest.mark.parametrize(("setting", "offered"), [(None, None), ("true", "permessage-deflate")])
def test_websocket_compression_is_accepted_only_when_the_setting_turns_it_on(
        redis_url: str, setting: str | None, offered: str | None) -> None:
    from websockets.sync.client import connect as ws_connect

    port = free_port()
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url}
    env.pop("ARGUS_WS_COMPRESSION", None)
    if setting is not None:
        env["ARGUS_WS_COMPRESSION"] = setting
    with running([sys.executable, "-m", "argus", "serve", "--port", str(port)], env=env,
                 stdin=subprocess.DEVNULL) as process:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        # The client offers permessage-deflate (websockets does by default).
        with ws_connect(f"ws://127.0.0.1:{port}/graphql",
                        subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            accepted = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
            assert (accepted or "").split(";")[0] == (offered or "")
            ws.send('{"type": "connection_init"}')
            assert ws.recv(5) == '{"type":"connection_ack"}'
