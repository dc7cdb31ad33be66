"""The events stream (``argus:events``, ``docs/contract/redis-keys.md``) read once per app and
fanned out to its subscribers.

One reader task per ``EventFeed`` (so per app), started by the first subscription and
stopped at shut-down, loops on ``XREAD BLOCK`` on a connection of its own (its client's
read timeout outlasts the block); a subscriber never issues a blocking read, so a
thousand subscriptions hold one Redis connection, not a thousand pool slots. Each entry
the reader gets is offered to the subscribers of its symbol (an index by symbol), which
keep those of their timeframes.

Bounds: each subscriber queues at most ``subscription_queue`` events it has not taken; a
subscriber that falls that far behind is **dropped** with ``SlowSubscriber``, which names
the id of the last event it was given, so that it resumes with ``after`` without a gap
(dropping the oldest instead would lose events silently from a trading client's view).
``max_subscriptions`` subscribers per feed; a resume reads back at most
``subscription_replay`` entries.

Resume (``after``): the subscriber joins the live feed first, at the reader's position
``P`` (every entry after ``P`` reaches its queue), then reads ``(after, P]`` with bounded
``XRANGE`` pages; it yields that replay, then its queue. The two ranges meet at ``P``, so
nothing is missed and nothing comes twice. A resume point older than what the stream
still holds (trimmed past it, by ``XINFO STREAM``: ``_trimmed_after``) is refused, as is
one further back than the replay bound: both are ``BAD_USER_INPUT``.

Redis errors end every subscription with ``ServiceUnavailable`` (a GraphQL error, not a
hang); the next subscription starts a new reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from argus import keys
from argus.errors import ArgusError, BadUserInput, ServiceUnavailable, SlowSubscriber, map_redis_errors
from argus.settings import Settings

log = logging.getLogger("argus.events")

#: Milliseconds one ``XREAD`` waits for an entry before it asks again.
BLOCK_MS = 1_000
#: Entries one ``XREAD`` or one replay ``XRANGE`` reads at most.
PAGE = 500

StreamId = tuple[int, int]
_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
_U64 = 2**64 - 1


def parse_id(text: str) -> StreamId:
    """An events-stream entry id (``1795000000000-0``; ``1795000000000`` is ``…-0``), or
    ``BAD_USER_INPUT``."""
    found = _ID.fullmatch(text)
    if found is not None:
        ms, seq = int(found[1]), int(found[2] or 0)
        if ms <= _U64 and seq <= _U64:
            return ms, seq
    raise BadUserInput(f"Invalid `after` {text[:64]!r}: an events-stream id looks like "
                       "1795000000000-0.", argument="after")


def format_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


@dataclass(frozen=True, slots=True)
class Event:
    """One regime label change, as the writer appended it. The reader offers one ``Event``
    to every subscriber of its symbol: ``shared`` is what their executions of it share (one
    execution of one document); ``page`` what the executions of every event read in the
    same ``XREAD`` (or replay page) share (one loader: a burst of 250 changes loads its
    symbols in one batch, and a hundred ``symbol { regime }`` selections read Redis once);
    ``views`` what is built from it once for all its subscribers (its ``RegimeChange``),
    which refers to ``shared`` and ``page`` but never to the event: no reference cycle, so
    an event is freed as soon as its last subscriber is done with it."""

    id: str
    symbol: str
    timeframe: str
    label: str
    previous: str | None
    computed_at: float | None
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    page: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    views: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def event_of(entry_id: Any, fields: Any, page: dict[Any, Any] | None = None) -> Event | None:
    """The ``Event`` of a stream entry, or ``None`` for an entry that is not a well-formed
    regime change (another kind, an unknown timeframe): skipped, and logged."""
    values = {keys.text(k): keys.text(v) for k, v in (fields or {}).items()}
    tf = values.get("tf", "")
    if values.get("kind") != "regime" or tf not in keys.TIMEFRAMES or not values.get("symbol") \
            or not values.get("label"):
        log.warning("skipping events entry %s: not a regime change (%r)", keys.text(entry_id),
                    sorted(values))
        return None
    try:
        computed_at: float | None = float(values.get("computed_at", ""))
    except ValueError:
        computed_at = None
    return Event(keys.text(entry_id), values["symbol"], tf, values["label"],
                 values.get("previous") or None, computed_at,
                 page=page if page is not None else {})


class Subscriber:
    """One subscription's view of the feed: its filter, its replay, its bounded queue."""

    def __init__(self, feed: EventFeed, symbols: frozenset[str], timeframes: frozenset[str] | None,
                 after: StreamId | None, limit: int) -> None:
        self.feed = feed
        self.symbols = symbols
        self.timeframes = timeframes
        #: Live entries at or before it are the replay's (or were asked to be skipped).
        self.floor: StreamId = after or (0, 0)
        self.limit = limit
        self.replay: deque[Event] = deque()
        self.queue: deque[Event] = deque()
        self.failure: ArgusError | None = None
        self.overflowed = False
        self.closed = False
        #: The id of the last event handed out (where a resume would start).
        self.last: str | None = None if after is None else format_id(after)
        self._wake = asyncio.Event()

    def wants(self, event: Event) -> bool:
        return event.symbol in self.symbols and (
            self.timeframes is None or event.timeframe in self.timeframes)

    def offer(self, event: Event, at: StreamId) -> bool:
        """Queue a live event; False when the queue is full (the subscriber is then failed)."""
        if at <= self.floor or not self.wants(event):
            return True
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self._wake.set()
            return False
        self.queue.append(event)
        self._wake.set()
        return True

    def fail(self, error: ArgusError) -> None:
        if self.failure is None:
            self.failure = error
        self._wake.set()

    def ready(self) -> Event | None:
        """The next event when one is queued and nothing is to be raised before it, without
        waiting (else ``None``: ``events`` then waits, or raises the failure). ``events``
        takes its events here too, so both hand out one sequence: a burst is taken in one
        go, not one wake-up each."""
        if self.overflowed or self.failure is not None or self.closed:
            return None
        source = self.replay or self.queue
        if not source:
            return None
        event = source.popleft()
        self.last = event.id
        return event

    async def events(self) -> AsyncIterator[Event]:
        """The replay, then the live events; ends by raising the failure (Redis, overflow,
        shut-down). Leaving the iteration (``aclose``, cancellation) unsubscribes."""
        try:
            while True:
                if self.overflowed:
                    raise SlowSubscriber(self.limit, self.last)
                if self.failure is not None:
                    raise self.failure
                event = self.ready()
                if event is not None:
                    yield event
                    continue
                if self.closed:
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.feed.remove(self)
            self.queue.clear()
            self.replay.clear()


class EventFeed:
    """The app's one reader of ``argus:events`` and its subscribers."""

    def __init__(self, settings: Settings, client: aioredis.Redis,
                 reader_client: Callable[[], aioredis.Redis]) -> None:
        """``client``: the app's pool (a resume's reads); ``reader_client`` makes the
        reader's own client, whose read timeout must outlast ``BLOCK_MS``."""
        self.settings = settings
        self.client = client
        self._reader_factory = reader_client
        self._reader_client: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        #: The id of the last entry the reader has read (and offered).
        self.position: StreamId = (0, 0)
        self.by_symbol: dict[str, set[Subscriber]] = {}
        self.count = 0
        self.closed = False

    @property
    def running(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def subscribe(self, symbols: Iterable[str], timeframes: Iterable[str] | None,
                        after: str | None) -> Subscriber:
        """A subscriber to the (canonical) ``symbols`` on ``timeframes`` (``None``: all),
        live from now, or from the entry after ``after``. Raises ``BAD_USER_INPUT`` (a bad
        or too old ``after``) or ``SERVICE_UNAVAILABLE`` (Redis, the subscription cap,
        shut-down) before anything is delivered."""
        start = None if after is None else parse_id(after)
        if self.closed:
            raise ServiceUnavailable("The server is shutting down. Resume with `after`.",
                                     self.settings.retry_after)
        if self.count >= self.settings.max_subscriptions:
            raise ServiceUnavailable(
                f"The server is at its limit of {self.settings.max_subscriptions} subscriptions. "
                "Retry shortly.", self.settings.retry_after)
        await self._ensure_reader()
        subscriber = Subscriber(self, frozenset(symbols),
                                None if timeframes is None else frozenset(timeframes), start,
                                self.settings.subscription_queue)
        self._add(subscriber)
        try:
            if start is not None and start < self.position:
                await self._replay(subscriber, start, self.position)
        except BaseException:
            subscriber.close()
            raise
        return subscriber

    def _add(self, subscriber: Subscriber) -> None:
        for symbol in subscriber.symbols:
            self.by_symbol.setdefault(symbol, set()).add(subscriber)
        self.count += 1

    def remove(self, subscriber: Subscriber) -> None:
        found = False
        for symbol in subscriber.symbols:
            members = self.by_symbol.get(symbol)
            if members is not None and subscriber in members:
                found = True
                members.discard(subscriber)
                if not members:
                    del self.by_symbol[symbol]
        if found:
            self.count -= 1

    async def _replay(self, subscriber: Subscriber, after: StreamId, until: StreamId) -> None:
        """``(after, until]`` into the subscriber's replay, at most ``subscription_replay``
        entries read, in pages; only the entries it wants are kept."""
        client = self.client
        bound = self.settings.subscription_replay
        with map_redis_errors(self.settings.retry_after):
            if _trimmed_after(await _stream_info(client), after):
                raise BadUserInput(f"Cannot resume after {format_id(after)}: the events stream no "
                                   "longer holds every entry after it. Subscribe without `after`.",
                                   argument="after")
            read, cursor = 0, after
            while cursor < until:
                page: Any = await client.xrange(keys.EVENTS, min=f"({format_id(cursor)}",
                                           max=format_id(until), count=min(PAGE, bound - read + 1))
                if not page:
                    break
                together: dict[Any, Any] = {}
                for entry_id, fields in page:
                    read += 1
                    if read > bound:
                        raise BadUserInput(
                            f"Cannot resume after {format_id(after)}: more than {bound} events "
                            "followed it. Resume from a later id, or subscribe without `after`.",
                            argument="after")
                    cursor = parse_id(keys.text(entry_id))
                    event = event_of(entry_id, fields, together)
                    if event is not None and subscriber.wants(event):
                        subscriber.replay.append(event)
        subscriber.floor = max(subscriber.floor, until)

    def _connection(self) -> aioredis.Redis:
        if self._reader_client is None:
            self._reader_client = self._reader_factory()
        return self._reader_client

    async def _ensure_reader(self) -> None:
        async with self._starting:
            if self.running:
                return
            client = self._connection()
            with map_redis_errors(self.settings.retry_after):
                last = await client.xrevrange(keys.EVENTS, count=1)
            self.position = parse_id(keys.text(last[0][0])) if last else (0, 0)
            self._reader = asyncio.create_task(self._read(client), name="argus-events-reader")

    async def _read(self, client: aioredis.Redis) -> None:
        try:
            while not self.closed:
                with map_redis_errors(self.settings.retry_after):
                    reply: Any = await client.xread({keys.EVENTS: format_id(self.position)},
                                               count=PAGE, block=BLOCK_MS)
                for _stream, entries in reply or ():
                    together: dict[Any, Any] = {}
                    for entry_id, fields in entries:
                        self.position = at = parse_id(keys.text(entry_id))
                        event = event_of(entry_id, fields, together)
                        if event is not None:
                            self._dispatch(event, at)
        except ServiceUnavailable as exc:
            log.warning("events reader stopped: Redis is unavailable (%s)", exc.__cause__)
            self._fail_all(exc)
        except Exception as exc:
            log.error("events reader failed", exc_info=exc)
            self._fail_all(ArgusError("Internal server error."))

    def _dispatch(self, event: Event, at: StreamId) -> None:
        subscribers = self.by_symbol.get(event.symbol)
        if not subscribers:
            return
        for subscriber in list(subscribers):
            if not subscriber.offer(event, at):
                self.remove(subscriber)

    def _fail_all(self, error: ArgusError) -> None:
        for subscriber in {s for members in self.by_symbol.values() for s in members}:
            subscriber.fail(error)
            self.remove(subscriber)

    async def close(self) -> None:
        """Shut-down: every subscription ends with ``SERVICE_UNAVAILABLE`` (resume ``after``),
        the reader stops, its connection closes."""
        self.closed = True
        self._fail_all(ServiceUnavailable("The server is shutting down. Resume with `after`.",
                                          self.settings.retry_after))
        if self._reader is not None:
            # A cancellation that lands while redis-py reconnects can be swallowed (seen
            # after an outage: the XREAD then runs on), so the loop also stops on ``closed``
            # within one block.
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, BLOCK_MS / 1000 + 2 * self.settings.redis_timeout)
        if self._reader_client is not None:
            await self._reader_client.aclose()
            self._reader_client = None


def _trimmed_after(info: dict[str, Any], after: StreamId) -> bool:
    """Whether entries after ``after`` may have been removed: one was deleted past it
    (``max-deleted-entry-id``), or it lies before the first entry of a stream that has lost
    entries (trimmed from the front by ``MAXLEN``; conservative: when ``after`` was exactly
    the last entry trimmed, nothing was lost, but the stream cannot tell)."""
    deleted = info.get("max-deleted-entry-id")
    if deleted is not None and after < parse_id(keys.text(deleted)):
        return True
    first = info.get("first-entry")
    lost = int(info.get("entries-added", 0) or 0) > int(info.get("length", 0) or 0)
    return bool(lost and first and after < parse_id(keys.text(first[0])))


async def _stream_info(client: aioredis.Redis) -> dict[str, Any]:
    """``XINFO STREAM argus:events`` as a dict (empty when the stream does not exist)."""
    import redis.exceptions as rex

    try:
        raw = await client.xinfo_stream(keys.EVENTS)
    except rex.ResponseError:  # no such key: nothing was ever deleted from it
        return {}
    return {keys.text(k): v for k, v in raw.items()}
