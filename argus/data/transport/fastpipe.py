"""A packed pipeline on redis-py's own connections: one write per round, replies in bulk.

redis-py's pipeline spends more per command on the client (command objects, callbacks,
one parser call per reply) than Redis spends serving it: a 1,000-symbol fetch costs several
times its Redis time (README, Benchmarks). ``run`` sends the same commands as one buffer
(``pack``, byte for byte what ``hiredis.pack_command`` makes of each) and parses every reply
with one ``hiredis.Reader`` fed straight from the socket.

It is a fast path, not a second client: the connections are the client's (made by its
pool, so its address, auth, database and connect timeout apply), the client's ``Retry``
policy takes over a round that fails (so a connection that died with a restarted Redis
reconnects once, as a pipeline would), a round is bounded by the connection's
``socket_timeout``, and failures surface as redis-py's own exceptions, which
``map_redis_errors`` translates.
Replies take the shapes redis-py's pipeline returns: ``HGETALL`` a dict, ``SMEMBERS`` a
set, ``GET`` bytes or ``None`` (str when the client decodes responses); or, with
``shaped=False``, as hiredis parsed them (``HGETALL`` the flat field/value list,
``SMEMBERS`` a list), which spares a 1,000-symbol fetch building 8,000 dicts its reader
does not need. A Redis Cluster client and fakeredis do not come here (``supports``).

Two things are hand-written because their library form costs a 1-symbol answer a share of
its time that ``bench.read_bench`` shows (README, Benchmarks):

* ``Reserve``: the connections a store's requests take turns on. A checkout from redis-py's
  pool takes a lock, runs observability hooks and inspects its arguments for deprecations;
  a reserved connection is a list pop. The
  reserve keeps at most ``keep`` connections out of the pool and checks out normally past
  that, so the pool's limit still holds.
* ``Lease``'s clock: one timer per request, not one ``asyncio.timeout`` per round (each
  costs a uvloop timer and a context manager). The timer is armed at the first
  round and re-armed only when it fires before the current round's own deadline; when a
  round overruns, its connection is aborted, the read ends, and the round raises
  ``TimeoutError`` as redis-py would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)

from argus.data.transport import _redis_compat as compat

Packed = tuple[str, str]
_READ_SIZE = 1 << 16
#: The RESP head of a two-part command up to its key's length, for the verbs Argus reads with.
_HEADS = {verb: f"*2\r\n${len(verb)}\r\n{verb}\r\n$" for verb in ("GET", "HGETALL", "SMEMBERS")}


#: The connections whose socket fastpipe reads and writes itself: redis-py's own, exactly
#: (a subclass, such as fakeredis' in-process connection, may have no socket at all).
_SOCKET_CONNECTIONS = (Connection, SSLConnection, UnixDomainSocketConnection)


def supports(client: Any) -> bool:
    """Only a plain ``redis.asyncio.Redis`` on a pool of redis-py's socket connections (not a
    cluster client, not fakeredis)."""
    return (isinstance(client, aioredis.Redis) and client.single_connection_client is False
            and client.connection_pool.connection_class in _SOCKET_CONNECTIONS)


def pack(commands: Sequence[Packed]) -> bytes:
    """``commands`` as one RESP buffer, as ``hiredis.pack_command`` packs each.

    One formatted string for the whole round when every key is ASCII (a key's length in
    characters is then its length in bytes): half the cost of a ``pack_command`` call per
    command. Anything else is packed by hiredis.
    """
    try:
        text = "".join([f"{_HEADS[verb]}{len(key)}\r\n{key}\r\n" for verb, key in commands])
    except KeyError:
        text = ""
    if text and text.isascii():
        return text.encode()
    return b"".join([hiredis.pack_command((verb, key)) for verb, key in commands])  # type: ignore[arg-type]


def _shape(verb: str, reply: Any) -> Any:
    if verb == "HGETALL":
        if isinstance(reply, list):
            it = iter(reply)
            return dict(zip(it, it, strict=True))
        return reply
    if verb == "SMEMBERS":
        return set(reply) if isinstance(reply, list) else reply
    return reply


async def run(client: aioredis.Redis, commands: Sequence[Packed], *, decode: bool = False,
              shaped: bool = True) -> list[Any]:
    """Send ``commands`` (verb, key) in one round; their replies in order.

    ``decode``: bulk replies come back as str, decoded by hiredis in C (as when the client
    decodes responses), which is several times cheaper than decoding them in Python.
    """
    async with Lease(Reserve(client, keep=0)) as lease:
        return await lease.run(commands, decode=decode, shaped=shaped)


async def _connect(conn: AbstractConnection) -> None:
    """``conn.connect()`` that fails only with redis-py's errors, and never leaves a
    half-done handshake behind (the reserve hands out its connections without the pool's
    check for unread data; redis-py itself drops one whose handshake was cancelled)."""
    try:
        await conn.connect()  # type: ignore[no-untyped-call]
    except rex.RedisError:
        raise
    except Exception as exc:
        # uvloop raises RuntimeError on a write to a transport it has closed (one the peer
        # reset), and redis-py lets that through: it translates only OSError and timeouts.
        await conn.disconnect(nowait=True)
        raise rex.ConnectionError(f"Error connecting to Redis: {exc!r}") from exc


class Reserve:
    """Connections of one client's pool kept for fastpipe's rounds (see the module's text)."""

    __slots__ = ("_idle", "_keep", "_kept", "_pool")

    def __init__(self, client: aioredis.Redis, keep: int) -> None:
        self._pool: ConnectionPool = client.connection_pool
        self._keep = keep
        self._kept = 0
        self._idle: list[AbstractConnection] = []

    async def take(self) -> tuple[AbstractConnection, bool]:
        """A connection, and whether it is a reserved one (else it goes back to the pool)."""
        if self._idle:
            return self._idle.pop(), True
        try:
            conn: AbstractConnection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        except rex.RedisError:
            raise
        except Exception as exc:  # the pool's connect on a dead transport (see ``_connect``)
            raise rex.ConnectionError(f"Error connecting to Redis: {exc!r}") from exc
        if self._kept < self._keep:
            self._kept += 1
            return conn, True
        return conn, False

    async def give(self, conn: AbstractConnection, reserved: bool) -> None:
        if not reserved:
            await self._pool.release(conn)
            return
        if conn.should_reconnect():  # type: ignore[no-untyped-call]  # as the pool's release does
            await conn.disconnect()
        self._idle.append(conn)


class Lease:
    """One connection for the rounds of one request, taken at its first round."""

    __slots__ = ("_busy", "_conn", "_deadline", "_expired", "_reserve", "_reserved", "_timer")

    def __init__(self, reserve: Reserve) -> None:
        self._reserve = reserve
        self._conn: AbstractConnection | None = None
        self._reserved = False
        #: The clock: the running round's connection and deadline, and the one timer.
        self._busy: AbstractConnection | None = None
        self._deadline = 0.0
        self._expired = False
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._reserve.give(conn, self._reserved)

    async def run(self, commands: Sequence[Packed], *, decode: bool = False,
                  shaped: bool = True) -> list[Any]:
        """``fastpipe.run`` on the leased connection."""
        if not commands:
            return []
        payload = pack(commands)
        conn = self._conn
        if conn is None:
            conn, self._reserved = await self._reserve.take()
            self._conn = conn
        if not conn.is_connected:
            # Outside the round's retry, as a pool checkout connects: redis-py's connect
            # retries on its own, and a Redis that cannot be reached is not retried twice.
            await _connect(conn)

        try:
            replies = await self._round(conn, payload, len(commands), decode)
        except Exception as error:
            # The client's Retry policy takes over from the first failure (it re-raises
            # what it does not retry): the same attempts and backoff as if it had made the
            # first call itself, without its cost on every round that succeeds.
            first: list[Exception] = [error]

            async def attempt() -> list[Any]:
                if first:
                    raise first.pop()
                return await self._round(conn, payload, len(commands), decode)

            async def failed(error: Exception) -> None:
                await conn.disconnect()

            replies = await conn.retry.call_with_retry(attempt, failed)
        if not shaped:
            return replies
        return [_shape(verb, reply) for (verb, _), reply in zip(commands, replies, strict=True)]

    def _start(self, conn: AbstractConnection) -> None:
        """Start the round's clock (``socket_timeout`` from now; none without one)."""
        timeout = conn.socket_timeout
        if timeout is None:
            return
        loop = asyncio.get_running_loop()
        self._busy, self._expired = conn, False
        self._deadline = loop.time() + timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        conn = self._busy
        if conn is None:
            return  # between rounds: the next round arms the clock again
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:  # a later round: its own deadline counts
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        self._expired = True
        compat.abort(conn)  # the pending read ends: the round raises TimeoutError

    async def _round(self, conn: AbstractConnection, payload: bytes, count: int,
                     decode: bool = False) -> list[Any]:
        if not conn.is_connected:
            await _connect(conn)
        encoder = conn.encoder
        errors: list[Exception] = []

        def reply_error(message: str) -> Exception:
            error = compat.parse_error(message)
            errors.append(error)
            return error

        options: dict[str, Any] = {"protocolError": rex.InvalidResponse, "replyError": reply_error}
        if encoder.decode_responses:
            options.update(encoding=encoder.encoding, errors=encoder.encoding_errors)
        elif decode:
            options.update(encoding="utf-8", errors="replace")
        parser = hiredis.Reader(**options)
        replies: list[Any] = []
        self._start(conn)
        try:
            streams = compat.streams(conn)
            if streams is None:  # torn down since it connected
                raise rex.ConnectionError("Connection closed.")
            writer, reader = streams
            writer.write(payload)
            if writer.transport.get_write_buffer_size():
                await writer.drain()  # only a payload the socket did not take at once
            gets, append = parser.gets, replies.append
            while len(replies) < count:
                data = await reader.read(_READ_SIZE)
                if not data:
                    raise rex.ConnectionError("Connection closed by server.")
                parser.feed(data)
                reply = gets()
                while reply is not False:
                    append(reply)
                    reply = gets()
        except Exception as exc:
            # Whatever failed, the stream is lost or out of sync: the socket (OSError), a
            # transport uvloop has closed (RuntimeError on write), hiredis on bytes that are
            # not RESP (InvalidResponse). Drop it, and fail as redis-py's connection does.
            await conn.disconnect(nowait=True)
            if self._expired:
                raise rex.TimeoutError("Timeout reading from socket") from exc
            if isinstance(exc, rex.ConnectionError):
                raise
            raise rex.ConnectionError(f"Error while talking to Redis: {exc!r}") from exc
        except BaseException:
            # Cancelled half-way: unread replies would poison the next user.
            await conn.disconnect(nowait=True)
            raise
        finally:
            self._busy = None
        if len(replies) != count:  # more replies than commands: out of sync
            await conn.disconnect(nowait=True)
            raise rex.ConnectionError(f"expected {count} replies, got {len(replies)}")
        if errors:  # every reply was read: the connection stays in sync
            raise errors[0]
        return replies
