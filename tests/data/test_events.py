"""The events feed: one reader of ``argus:events`` per app, fanned out to bounded subscribers,
resumable without gap or duplicate; on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from argus import keys
from argus.data.events import BLOCK_MS, Event, EventFeed, Subscriber
from argus.data.store import create_client
from argus.errors import BadUserInput, ServiceUnavailable, SlowSubscriber
from argus.settings import Settings
from tests.redis_server import RedisServer
from tests.writer.test_redis_writer import output, writer

BTC, ETH = "BINANCE:BTC-USDT", "BINANCE:ETH-USDT"


def feed_of(settings: Settings, client: aioredis.Redis) -> EventFeed:
    return EventFeed(settings, client, lambda: create_client(
        settings, socket_timeout=BLOCK_MS / 1000 + 2 * settings.redis_timeout, max_connections=1))


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def open_feed(redis_url: str, **overrides: Any) -> tuple[EventFeed, aioredis.Redis]:
    settings = Settings.from_env({}, redis_url=redis_url, **overrides)
    pool = create_client(settings)
    return feed_of(settings, pool), pool


@pytest.fixture
async def feed(redis_url: str) -> AsyncIterator[EventFeed]:
    f, pool = await open_feed(redis_url)
    yield f
    await f.close()
    await pool.aclose()


async def xadd(client: aioredis.Redis, symbol: str = BTC, tf: str = "1h", label: str = "ranging",
               previous: str = "", kind: str = "regime") -> str:
    entry = await client.xadd(keys.EVENTS, {"kind": kind, "symbol": symbol, "tf": tf,
                                            "label": label, "previous": previous,
                                            "computed_at": "1795000000.5"})
    return keys.text(entry)


async def take(events: AsyncIterator[Event], n: int) -> list[Event]:
    async with asyncio.timeout(5.0):
        return [await anext(events) for _ in range(n)]


async def test_a_change_the_writer_appends_reaches_a_subscriber_of_its_symbol(
        feed: EventFeed, redis_url: str) -> None:
    events = (await feed.subscribe([BTC], None, None)).events()
    await asyncio.to_thread(writer(redis_url).write, [output(BTC, {"1h": "trending_up"}, [])])
    [event] = await take(events, 1)
    assert (event.symbol, event.timeframe, event.label, event.previous) == (
        BTC, "1h", "trending_up", None)
    assert event.computed_at == 1795000000.5
    assert event.id.count("-") == 1


async def test_only_the_subscribed_symbols_and_timeframes_arrive(
        feed: EventFeed, client: aioredis.Redis) -> None:
    events = (await feed.subscribe([BTC], ["1h", "1d"], None)).events()
    await xadd(client, ETH, "1h")
    await xadd(client, BTC, "4h")
    wanted = [await xadd(client, BTC, "1h"), await xadd(client, BTC, "1d")]
    assert [e.id for e in await take(events, 2)] == wanted


async def test_entries_that_are_not_regime_changes_are_skipped(
        feed: EventFeed, client: aioredis.Redis) -> None:
    events = (await feed.subscribe([BTC], None, None)).events()
    await xadd(client, kind="other")
    await xadd(client, tf="2h")
    good = await xadd(client)
    assert [e.id for e in await take(events, 1)] == [good]


async def test_resume_after_an_id_replays_what_followed_it_then_joins_live(
        feed: EventFeed, client: aioredis.Redis) -> None:
    ids = [await xadd(client, label=f"l{i}") for i in range(5)]
    events = (await feed.subscribe([BTC], None, ids[1])).events()
    live = await xadd(client, label="live")
    assert [e.id for e in await take(events, 4)] == [*ids[2:], live]


async def test_resume_while_entries_keep_arriving_has_no_gap_and_no_duplicate(
        feed: EventFeed, client: aioredis.Redis) -> None:
    # The reader is already running and moving while the resuming subscriber reads back.
    await feed.subscribe([ETH], None, None)
    first = await xadd(client, label="first")
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            await xadd(client, label=f"w{n}")
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    events = (await feed.subscribe([BTC], None, first)).events()
    await asyncio.sleep(0.05)
    stop.set()
    await task
    entries = await client.xrange(keys.EVENTS, min=f"({first}")
    assert entries is not None  # redis-py types XRANGE's answer as optional
    expected = [keys.text(i) for i, _ in entries]
    assert len(expected) > 10
    got = [e.id for e in await take(events, len(expected))]
    assert got == expected


async def test_a_resume_point_the_live_feed_has_not_reached_skips_up_to_it(
        feed: EventFeed, client: aioredis.Redis) -> None:
    await xadd(client)
    ahead = "99999999999999-0"
    events = (await feed.subscribe([BTC], None, ahead)).events()
    await xadd(client)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(events), 0.3)


@pytest.mark.parametrize("after", ["abc", "1-2-3", "-1", "1-", "1795000000000-x", " 1-0",
                                   "99999999999999999999999-0", "1" * 300])
async def test_a_malformed_after_is_bad_user_input(feed: EventFeed, after: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        await feed.subscribe([BTC], None, after)
    assert refused.value.message.startswith("Invalid `after`")
    assert refused.value.extensions == {"argument": "after"}
    assert feed.count == 0


async def test_a_resume_further_back_than_the_replay_bound_is_bad_user_input(
        redis_url: str, client: aioredis.Redis) -> None:
    feed, pool = await open_feed(redis_url, subscription_replay=3)
    try:
        ids = [await xadd(client) for _ in range(5)]
        with pytest.raises(BadUserInput, match="more than 3 events followed it"):
            await feed.subscribe([BTC], None, ids[0])
        assert feed.count == 0
        got = await take((await feed.subscribe([BTC], None, ids[1])).events(), 3)
        assert [e.id for e in got] == ids[2:]
    finally:
        await feed.close()
        await pool.aclose()


async def test_a_resume_point_the_stream_was_trimmed_past_is_bad_user_input(
        feed: EventFeed, client: aioredis.Redis) -> None:
    ids = [await xadd(client) for _ in range(5)]
    await client.xtrim(keys.EVENTS, maxlen=2, approximate=False)
    with pytest.raises(BadUserInput, match="no longer holds every entry after it"):
        await feed.subscribe([BTC], None, ids[0])
    got = await take((await feed.subscribe([BTC], None, ids[3])).events(), 1)
    assert [e.id for e in got] == ids[4:]


async def test_a_slow_subscriber_is_dropped_with_the_id_to_resume_after(
        redis_url: str, client: aioredis.Redis) -> None:
    feed, pool = await open_feed(redis_url, subscription_queue=3)
    try:
        subscriber = await feed.subscribe([BTC], None, None)
        events = subscriber.events()
        taken = await xadd(client)
        await take(events, 1)
        missed = [await xadd(client) for _ in range(6)]
        for _ in range(100):
            if feed.count == 0:
                break
            await asyncio.sleep(0.02)
        assert feed.count == 0  # dropped by the reader, not kept growing
        assert len(subscriber.queue) <= 3
        with pytest.raises(SlowSubscriber) as dropped:
            await anext(events)
        assert dropped.value.code == "SLOW_SUBSCRIBER"
        assert dropped.value.extensions == {"resumeAfter": taken}
        resumed = (await feed.subscribe([BTC], None, taken)).events()
        assert [e.id for e in await take(resumed, 6)] == missed
    finally:
        await feed.close()
        await pool.aclose()


async def test_what_is_queued_is_taken_without_waiting_and_a_drop_still_raises(
        redis_url: str, client: aioredis.Redis) -> None:
    feed, pool = await open_feed(redis_url, subscription_queue=3)
    try:
        subscriber = await feed.subscribe([BTC], None, None)
        events = subscriber.events()
        assert subscriber.ready() is None  # nothing queued: not a wait
        first, second = await xadd(client, label="a"), await xadd(client, label="b")
        [event] = await take(events, 1)
        assert event.id == first
        for _ in range(100):
            if subscriber.queue:
                break
            await asyncio.sleep(0.02)
        queued = subscriber.ready()
        assert queued is not None and queued.id == second  # the same sequence as ``events``
        assert subscriber.last == second  # a resume would start after it
        missed = [await xadd(client) for _ in range(6)]
        for _ in range(100):
            if subscriber.overflowed:
                break
            await asyncio.sleep(0.02)
        assert subscriber.ready() is None  # dropped: nothing more, the drop is raised
        with pytest.raises(SlowSubscriber) as dropped:
            await anext(events)
        assert dropped.value.extensions == {"resumeAfter": second}
        assert missed[0] not in [e.id for e in subscriber.queue]
    finally:
        await feed.close()
        await pool.aclose()


async def test_closing_a_stream_that_took_everything_without_waiting_unsubscribes(
        feed: EventFeed, client: aioredis.Redis) -> None:
    from argus.graphql.resolvers import RegimeChanges

    subscriber = await feed.subscribe([BTC], None, None)
    changes = RegimeChanges(subscriber)
    entry = await xadd(client)
    for _ in range(100):
        if subscriber.queue:
            break
        await asyncio.sleep(0.02)
    change = changes.ready()
    assert change is not None and change.id == entry
    await changes.aclose()  # its ``events`` never started
    assert subscriber.closed and feed.count == 0 and feed.by_symbol == {}


async def test_one_blocking_reader_serves_every_subscriber(
        feed: EventFeed, client: aioredis.Redis) -> None:
    streams = [(await feed.subscribe([BTC], None, None)).events() for _ in range(50)]
    await asyncio.sleep(0.1)
    clients = (await client.client_list())
    assert sum(1 for c in clients if c.get("cmd") == "xread") == 1
    entry = await xadd(client)
    for events in streams:
        assert [e.id for e in await take(events, 1)] == [entry]


async def test_leaving_the_iteration_unsubscribes(feed: EventFeed) -> None:
    subscriber = await feed.subscribe([BTC, ETH], None, None)
    events = subscriber.events()
    task = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert feed.count == 0 and feed.by_symbol == {}
    assert subscriber.closed


async def test_the_server_cap_on_subscriptions_is_service_unavailable(redis_url: str) -> None:
    feed, pool = await open_feed(redis_url, max_subscriptions=2)
    try:
        kept: list[Subscriber] = [await feed.subscribe([BTC], None, None) for _ in range(2)]
        with pytest.raises(ServiceUnavailable, match="limit of 2 subscriptions"):
            await feed.subscribe([BTC], None, None)
        kept[0].close()
        await feed.subscribe([BTC], None, None)
    finally:
        await feed.close()
        await pool.aclose()


async def test_close_ends_every_subscription_and_stops_the_reader(feed: EventFeed) -> None:
    events = (await feed.subscribe([BTC], None, None)).events()
    assert feed.running
    await feed.close()
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await anext(events)
    assert not feed.running and feed.count == 0
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await feed.subscribe([BTC], None, None)


async def test_a_redis_outage_ends_subscriptions_with_service_unavailable_then_recovers() -> None:
    server = RedisServer().start()
    try:
        feed, pool = await open_feed(server.url, redis_connect_timeout=0.2, redis_timeout=0.3)
        try:
            events = (await feed.subscribe([BTC], None, None)).events()
            server.kill()
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ServiceUnavailable):
                await asyncio.wait_for(anext(events), 5)
            assert loop.time() - started < 3.0
            with pytest.raises(ServiceUnavailable):  # still down: refused at once, no hang
                await asyncio.wait_for(feed.subscribe([BTC], None, None), 5)
            server.start()
            again = (await feed.subscribe([BTC], None, None)).events()
            sync = redis.Redis.from_url(server.url)
            sync.xadd(keys.EVENTS, {"kind": "regime", "symbol": BTC, "tf": "1h",
                                    "label": "ranging", "previous": "", "computed_at": "1"})
            sync.close()
            [event] = await take(again, 1)
            assert event.label == "ranging"
        finally:
            await feed.close()
            await pool.aclose()
    finally:
        server.stop()
