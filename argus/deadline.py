"""The per-request deadline: a GraphQL or REST request's work ends within
``ARGUS_REQUEST_TIMEOUT`` seconds, as 503 ``SERVICE_UNAVAILABLE`` when it does not.

Each Redis call is bounded by the Redis timeouts, but a request makes several (budget,
discovery, fetch, each with a retry), and a Redis that is slow without timing out, or a
pool whose connections are all busy, can hold a request past any single timeout. The
deadline bounds the whole. It is applied per request, around the work of ``/graphql`` and
the REST route, and not to anything long-lived: subscription streams (WebSocket, SSE) are
meant to outlive it, under limits of their own.

Cancelling mid-round is safe: the packed transport (``argus.fastpipe``) drops a
connection whose round or handshake was cut short, so a half-read connection is never
handed to the next request.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from argus.errors import ServiceUnavailable


class deadline:
    """``async with deadline(seconds, retry_after):`` raises ``ServiceUnavailable`` when
    the block runs past ``seconds`` (``asyncio.timeout``, translated).

    A class, not ``@asynccontextmanager``: a generator per use costs every request twice.
    """

    __slots__ = ("_retry_after", "_seconds", "_timeout")

    def __init__(self, seconds: float, retry_after: int) -> None:
        self._seconds = seconds
        self._retry_after = retry_after
        self._timeout: asyncio.Timeout | None = None

    async def __aenter__(self) -> None:
        self._timeout = asyncio.timeout(self._seconds)
        await self._timeout.__aenter__()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        assert self._timeout is not None
        try:
            await self._timeout.__aexit__(kind, exc, traceback)
        except TimeoutError as expired:
            # Only the deadline's own expiry raises here: a TimeoutError from inside the
            # block passes through ``__aexit__`` untouched (and is mapped where it arose).
            raise ServiceUnavailable(retry_after=self._retry_after) from expired
