"""Redis access for the read path: discovery and fetch, one pipelined round each.

* ``discover``: which keys exist for the requested symbols. Index mode sends one pipeline of
  ``SMEMBERS idx:{SYM}``. Scan mode (keyspaces written without an index) walks the
  keyspace once with ``SCAN MATCH corr:...`` and checks the fixed regime/novelty names
  with one ``EXISTS`` pipeline; a SCAN walks the whole keyspace (thousands of times an
  index read on a large keyspace), so scan mode caps symbols per request.
* ``fetch``: one pipeline of ``HGETALL`` (regime) and ``GET`` (novelty, correlations).
  Replies stay ``bytes`` (a hash as its flat field/value list on the packed path, a dict
  from a cluster pipeline): ``argus.data.values`` decodes only the fields a query reads.

Both rounds go through ``fastpipe`` (one packed write, replies parsed in bulk) unless the
client is a Redis Cluster client.

Driver errors are translated to ``ServiceUnavailable`` here and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster

from argus import keys
from argus.data.transport import fastpipe
from argus.errors import QueryTooComplex, map_redis_errors
from argus.settings import Settings

Command = tuple[Literal["HGETALL", "GET"], str]
#: The writer's and the CLI's blocking client: a Redis Cluster client when
#: ``ARGUS_REDIS_CLUSTER`` is set (``create_sync_client``).
SyncClient = redis.Redis | RedisCluster


@dataclass(slots=True)
class SymbolIndex:
    """The keys that exist for one canonical symbol (not frozen: building a frozen dataclass
    costs several times more, and discovery builds one per symbol; nothing mutates it)."""

    symbol: str
    timeframes: tuple[str, ...] = ()
    novelty: bool = False
    partners: tuple[str, ...] = field(default=())
    #: The regime and correlation key names, aligned with ``timeframes`` and ``partners``
    #: (kept from discovery, so the fetch does not format them again); empty means
    #: "format them".
    regime_names: tuple[str, ...] = field(default=(), compare=False)
    partner_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def exists(self) -> bool:
        return bool(self.timeframes or self.novelty or self.partners)

    @classmethod
    def from_keys(cls, symbol: str, names: Iterable[bytes] | Iterable[str]) -> SymbolIndex:
        """The index of ``symbol`` from its index members (all ``str``, or all ``bytes`` as
        a client that does not decode gives them); members that are not one of this
        symbol's data keys (another symbol's, malformed) are ignored.

        Set lookups of the eight possible regime names and of the novelty name; only an
        index with more members than those (correlations, foreign names) is walked.
        """
        members: set[Any] = set(names)
        if members and next(iter(members)).__class__ is not str:
            members = {n.decode() for n in members}
        regime_prefix = keys.regime(symbol, "")
        timeframes: list[str] = []
        regime_names: list[str] = []
        for tf in keys.TIMEFRAMES:
            name = regime_prefix + tf
            if name in members:
                timeframes.append(tf)
                regime_names.append(name)
        novelty = keys.novelty(symbol) in members
        partners: tuple[str, ...] = ()
        partner_names: tuple[str, ...] = ()
        if len(members) > len(timeframes) + novelty:
            corr_prefix = keys.corr(symbol, "")
            members.discard(corr_prefix)  # no partner
            # One prefix: sorting the names sorts their partners.
            partner_names = tuple(sorted([n for n in members if n.startswith(corr_prefix)]))
            cut = len(corr_prefix)
            partners = tuple([n[cut:] for n in partner_names])
        return cls(symbol, tuple(timeframes), novelty, partners, tuple(regime_names), partner_names)


def create_client(settings: Settings, *, socket_timeout: float | None = None,
                  max_connections: int | None = None) -> aioredis.Redis:
    """A pooled asyncio client with bounded connect/command timeouts and one quick retry.

    ``socket_timeout`` and ``max_connections`` replace the settings' for a client of its own
    (the events reader's, whose ``XREAD BLOCK`` outlasts a command timeout).

    The single retry lets a pooled connection that died with a restarted Redis reconnect
    transparently; with no backoff a hung Redis answers 503 after about three command timeouts
    (the failed round, then the retry's connection handshake and round).

    The pool is redis-py's plain ``ConnectionPool``: past ``max_connections`` a checkout
    fails at once ("Too many connections", a ``ConnectionError``: 503). Requests queue
    before they get here, at ``argus.http.deadline``'s gate, which admits no more of them than
    the pool serves. Not ``BlockingConnectionPool``: its release awaits a lock (its
    ``Condition``) that woken checkouts contend for, and a request deadline cancelling a
    release there would lose the connection for good. The plain pool's lock is never held
    across an await on the way in, so its release does not wait.
    """
    options: dict[str, Any] = {
        # RESP2, as redis-py before 8 spoke by default: hiredis parses a hash reply into a
        # flat list several times faster than into a dict (a RESP3 map), and
        # ``argus.data.values`` reads the flat list as it is.
        "protocol": 2,
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_timeout if socket_timeout is None else socket_timeout,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 0,
    }
    if settings.redis_cluster:
        from redis.asyncio.cluster import RedisCluster

        cluster: Any = RedisCluster.from_url(settings.redis_url, **options)
        return cluster  # type: ignore[no-any-return]
    return aioredis.Redis.from_url(
        settings.redis_url, **options,
        max_connections=settings.redis_max_connections if max_connections is None else max_connections,
    )


def create_sync_client(settings: Settings, *, socket_timeout: float | None = None,
                       connect_timeout: float | None = None) -> SyncClient:
    """The blocking client of the writer and the CLI, from the same settings as the API's:
    ``redis_url``, ``redis_cluster``, ``redis_max_connections`` and the timeouts, which a
    caller may lengthen (the writer's rounds carry whole batches: ``write_timeout``)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": (settings.redis_connect_timeout if connect_timeout is None
                                   else connect_timeout),
        "socket_timeout": settings.redis_timeout if socket_timeout is None else socket_timeout,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return redis.Redis.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, **options
    )


class Store:
    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        # One packed write per round, replies parsed in bulk (``fastpipe``); a cluster
        # client keeps redis-py's pipeline, which routes commands to their nodes.
        # Half the pool at most stays reserved for requests' rounds; the rest serves
        # everything else (budget, API keys, persisted queries, readiness).
        self.reserve = (fastpipe.Reserve(client, keep=settings.redis_max_connections // 2)
                        if fastpipe.supports(client) else None)

    @property
    def packed(self) -> bool:
        return self.reserve is not None

    async def ping(self) -> bool:
        with map_redis_errors(self.settings.retry_after):
            return bool(await self.client.ping())

    async def universe(self) -> dict[str, str]:
        with map_redis_errors(self.settings.retry_after):
            raw = await self.client.hgetall(keys.UNIVERSE)
        return {keys.text(k): keys.text(v) for k, v in raw.items()}

    def lease(self) -> AbstractAsyncContextManager[fastpipe.Lease | None]:
        """One pooled connection for a request's rounds (``None`` on a cluster, whose
        pipelines route each command to its node)."""
        if self.reserve is None:
            return contextlib.nullcontext()
        return fastpipe.Lease(self.reserve)

    def _leased(self, lease: fastpipe.Lease | None,
                reserve: fastpipe.Reserve) -> AbstractAsyncContextManager[fastpipe.Lease]:
        """``lease``, or a lease of this call's own when the caller holds none."""
        return contextlib.nullcontext(lease) if lease is not None else fastpipe.Lease(reserve)

    async def discover(self, symbols: Sequence[str],
                       lease: fastpipe.Lease | None = None) -> list[SymbolIndex]:
        if not symbols:
            return []
        if self.settings.discovery == "scan":
            return await self._discover_by_scan(symbols)
        with map_redis_errors(self.settings.retry_after):
            if self.reserve is not None:
                commands = [("SMEMBERS", keys.index(s)) for s in symbols]
                async with self._leased(lease, self.reserve) as leased:
                    replies = await leased.run(commands, decode=True, shaped=False)
            else:
                async with self.client.pipeline(transaction=False) as pipe:
                    for symbol in symbols:
                        pipe.smembers(keys.index(symbol))
                    replies = await pipe.execute()
        return [SymbolIndex.from_keys(s, names) for s, names in zip(symbols, replies, strict=True)]

    async def fetch(self, commands: Sequence[Command],
                    lease: fastpipe.Lease | None = None) -> list[Any]:
        if not commands:
            return []
        with map_redis_errors(self.settings.retry_after):
            if self.reserve is not None:
                async with self._leased(lease, self.reserve) as leased:
                    return await leased.run(commands, shaped=False)
            async with self.client.pipeline(transaction=False) as pipe:
                for verb, key in commands:
                    if verb == "HGETALL":
                        pipe.hgetall(key)
                    else:
                        pipe.get(key)
                return list(await pipe.execute())

    async def _discover_by_scan(self, symbols: Sequence[str]) -> list[SymbolIndex]:
        limit = self.settings.scan_max_symbols
        if len(symbols) > limit:
            raise QueryTooComplex(
                f"Scan discovery serves at most {limit} symbols per request; "
                f"{len(symbols)} requested.", limit="scanMaxSymbols", value=limit
            )
        wanted = set(symbols)
        # One walk per request: a single symbol's pattern when there is one, else every
        # correlation key, filtered here.
        pattern = keys.corr_pattern(symbols[0]) if len(wanted) == 1 else keys.ALL_CORR_PATTERN
        found: dict[str, list[str]] = {s: [] for s in wanted}
        fixed = [name for s in symbols for name in (*keys.regimes(s), keys.novelty(s))]
        with map_redis_errors(self.settings.retry_after):
            async for name in self.client.scan_iter(match=pattern, count=self.settings.scan_count):
                parsed = keys.parse(name)
                if parsed is not None and parsed.symbol in wanted:
                    found[parsed.symbol].append(name if isinstance(name, str) else name.decode())
            async with self.client.pipeline(transaction=False) as pipe:
                for name in fixed:
                    pipe.exists(name)
                flags = await pipe.execute()
        for name, flag in zip(fixed, flags, strict=True):
            if flag:
                parsed = keys.parse(name)
                assert parsed is not None
                found[parsed.symbol].append(name)
        return [SymbolIndex.from_keys(s, found[s]) for s in symbols]
