"""Per-caller cost budgets shared by every instance: one GCRA Lua script, one round trip.

Why GCRA: it keeps one number per caller (the theoretical arrival time), so any cost, 1 or
50,000 points, is O(1) in time and memory, and one ``EVALSHA`` answers allowed, remaining
and reset together (``docs/contract/clarifications.md`` §5; the ``limits`` moving window would store one
entry per point). The clock is Redis's own ``TIME``, so instances with skewed clocks agree.

A tier's budget B points per 60 s means: B points may be spent at once, and the allowance
refills continuously at B / 60 points per second. A refused request spends nothing.
Redis unavailable → ``ServiceUnavailable`` (503, fail closed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from argus import keys
from argus.errors import RateLimited, map_redis_errors
from argus.policy.tiers import BUDGET_PERIOD

# KEYS[1] budget key; ARGV: limit (points per period), period (ms), cost (points).
# Returns {allowed 0|1, remaining points, retry after ms, reset ms (until fully refilled)}.
GCRA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - period
if allow_at > now then
  local remaining = math.floor((period - (tat - now)) / interval + 1e-6)
  return {0, remaining, math.ceil(allow_at - now), math.ceil(tat - now)}
end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
end
local remaining = math.floor((period - (new_tat - now)) / interval + 1e-6)
return {1, remaining, 0, math.ceil(new_tat - now)}
"""


@dataclass(frozen=True, slots=True)
class Charge:
    limit: int
    remaining: int
    reset: int  # seconds until the budget is full again
    reset_at: float  # Unix time of the same moment (this instance's clock)

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset)}


class BudgetSpent(RateLimited):
    """``RATE_LIMITED`` with the caller's budget state, for the RateLimit headers."""

    def __init__(self, message: str, retry_after: int, charge: Charge) -> None:
        super().__init__(message, retry_after)
        self.charge = charge


class Budget:
    def __init__(self, client: aioredis.Redis, retry_after: int) -> None:
        self.script = client.register_script(GCRA)
        self.retry_after = retry_after

    async def charge(self, caller: str, limit: int, cost: int, now: float) -> Charge:
        """Spend ``cost`` of ``caller``'s ``limit``; ``RateLimited`` when it would overspend."""
        with map_redis_errors(self.retry_after):
            reply = await self.script(keys=[keys.budget(caller)],
                                      args=[limit, BUDGET_PERIOD * 1000, cost])
        allowed, remaining, retry_ms, reset_ms = (int(v) for v in reply)
        reset = math.ceil(reset_ms / 1000)
        charge = Charge(limit, max(0, remaining), reset, now + reset_ms / 1000)
        if not allowed:
            retry = max(1, math.ceil(retry_ms / 1000))
            raise BudgetSpent(
                f"The cost budget of {limit} points per minute is spent; this request costs "
                f"{cost}. Retry in {retry} s.", retry, charge)
        return charge
