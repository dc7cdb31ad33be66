"""What bounds each GraphQL or REST request: a deadline, and a place among the requests
that may use Redis at once.

* The deadline: a request's work ends within ``ARGUS_REQUEST_TIMEOUT`` seconds, as 503
  ``SERVICE_UNAVAILABLE`` when it does not. Each Redis call is bounded by the Redis
  timeouts, but a request makes several (budget, discovery, fetch, each with a retry),
  and a Redis that is slow without timing out holds a request for their sum.
* The gate: at most half of ``ARGUS_REDIS_MAX_CONNECTIONS`` requests do their work at
  once, and the others wait for a place, within their deadline. An admitted request holds
  one connection at a time (the budget's, then its lease), and the reserve keeps at most
  the other half out of the pool, so a burst queues here instead of finding the pool
  empty: redis-py's pool sheds past its size ("Too many connections", 503), and its
  blocking pool would queue in a release that a deadline's cancellation can leave undone.

Both are per request, around the work of ``/graphql`` and the REST route; nothing
long-lived goes through them (subscription streams, which come next, are meant to
outlive a request's deadline, under limits of their own). Cancelling mid-round is safe:
``argus.data.transport.fastpipe`` drops a connection whose round was cut short, and redis-py one whose
handshake or command was, so no half-read connection serves the next request.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from argus.errors import ServiceUnavailable
from argus.settings import Settings


class RequestBounds:
    """One per application: ``async with bounds():`` around each request's work."""

    __slots__ = ("gate", "retry_after", "seconds")

    def __init__(self, settings: Settings) -> None:
        self.seconds = settings.request_timeout
        self.retry_after = settings.retry_after
        self.gate = asyncio.Semaphore(max(1, settings.redis_max_connections // 2))

    def __call__(self) -> Bounded:
        return Bounded(self)


class Bounded:
    """One request within its bounds; raises ``ServiceUnavailable`` past the deadline
    (``asyncio.timeout``, translated), whether it was waiting for a place or working.

    A class, not ``@asynccontextmanager``: a generator per use costs every request twice.
    """

    __slots__ = ("_bounds", "_held", "_timeout")

    def __init__(self, bounds: RequestBounds) -> None:
        self._bounds = bounds
        self._held = False
        self._timeout: asyncio.Timeout | None = None

    async def __aenter__(self) -> None:
        self._timeout = asyncio.timeout(self._bounds.seconds)
        await self._timeout.__aenter__()
        try:
            await self._bounds.gate.acquire()
        except BaseException as exc:  # cancelled while waiting: by the deadline, or not
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._held = True

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._held:
            self._held = False
            self._bounds.gate.release()
        assert self._timeout is not None
        try:
            await self._timeout.__aexit__(kind, exc, traceback)
        except TimeoutError as expired:
            # Only the deadline's own expiry raises here: a TimeoutError from inside the
            # block passes through ``__aexit__`` untouched (and is mapped where it arose).
            raise ServiceUnavailable(retry_after=self._bounds.retry_after) from expired
