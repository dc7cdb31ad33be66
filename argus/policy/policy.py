"""The tier policy of one request, shared by ``/graphql`` and the REST route.

Order, so that refusals cost as little as possible: authenticate (401), resolve a
persisted query, validate with the tier's limits (400, no Redis work), charge the budget
(one ``EVALSHA``; 429, or 503 when Redis is down; skipped for tiers without a budget),
execute, then derive ``Cache-Control`` from the selected fields' hints.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse
from starlette.requests import HTTPConnection

from argus.data.bounded_cache import BoundedCache, document_bytes
from argus.errors import ArgusError
from argus.policy import cache_hints
from argus.policy.api_keys import ApiKeys
from argus.policy.apq import PersistedQueries
from argus.policy.auth import Authenticator, Caller
from argus.policy.budget import Budget, BudgetSpent, Charge
from argus.policy.cost import CostWalker, check_cost_map
from argus.policy.limits import Validator, fragments_of
from argus.policy.tiers import TierTable
from argus.settings import Settings

#: What ``GET /api/intelligence/{symbol}`` answers, as GraphQL: its cost is this query's.
REST_EQUIVALENT = """{ symbol(symbol: "BTC") { regime { label } novelty { score }
  correlations(first: 20) { coefficient } } }"""


class Policy:
    def __init__(self, settings: Settings, client: aioredis.Redis, schema: GraphQLSchema) -> None:
        check_cost_map(schema)
        cache_hints.check_hints(schema)
        self.settings = settings
        self.schema = schema
        self.tiers = TierTable.load(settings.tiers_file)
        self.auth = Authenticator(settings, self.tiers, ApiKeys(client, settings))
        self.persisted = PersistedQueries(client, settings)
        self.validate = Validator(schema, introspection_cost=settings.introspection_cost,
                                  cache_bytes=settings.cache_bytes)
        self.budget = Budget(client, settings.retry_after)
        self.rest_cost = rest_cost(schema)
        # The hint of a parsed operation never changes; parsed documents are cached (and
        # so reused) by the view. Keyed by identity: AST nodes hash by deep value.
        self._hints: BoundedCache[int, tuple[OperationDefinitionNode, int | None]] = BoundedCache(
            settings.cache_bytes, 4_096, admit_on_reuse=True)

    async def authenticate(self, conn: HTTPConnection) -> Caller:
        return await self.auth.authenticate(conn)

    async def charge(self, caller: Caller, cost: int) -> Charge | None:
        """Spend ``cost`` from the caller's budget; ``None`` for a tier without one."""
        if caller.tier.budget is None:
            return None
        return await self.budget.charge(caller.identity, caller.tier.budget, cost, time.time())

    def max_age(self, caller: Caller, document: DocumentNode,
                operation: OperationDefinitionNode | None) -> int:
        hint = None
        root = self.schema.query_type
        if operation is not None and root is not None:
            cached = self._hints.get(id(operation))
            if cached is not None and cached[0] is operation:
                hint = cached[1]
            else:
                hint = cache_hints.min_hint(self.schema, operation.selection_set, root,
                                            fragments_of(document))
                # The operation's locations keep its document's tokens alive.
                self._hints.put(id(operation), (operation, hint), document_bytes(document))
        return cache_hints.shared_max_age(hint, caller.tier)

    @staticmethod
    def headers(max_age: int, errors: bool, charge: Charge | None) -> dict[str, str]:
        headers = {"Cache-Control": cache_hints.cache_control(max_age, errors),
                   "Vary": cache_hints.VARY}
        if charge is not None:
            headers.update(charge.headers())
        return headers

    @staticmethod
    def cost_extension(requested: int, charge: Charge | None, shared: bool) -> dict[str, Any]:
        """``extensions.cost``; a shared-cacheable answer must not carry one caller's budget."""
        if shared:
            return {"requested": requested}
        return {
            "requested": requested,
            "remaining": None if charge is None else charge.remaining,
            "resetAt": None if charge is None else datetime.fromtimestamp(
                charge.reset_at, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


def rest_cost(schema: GraphQLSchema) -> int:
    document = parse(REST_EQUIVALENT)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert schema.query_type is not None
    return CostWalker(schema, {}, None).cost(operation.selection_set, schema.query_type)


def refusal_headers(error: ArgusError) -> dict[str, str]:
    """Headers a refused request carries besides ``Retry-After`` (the budget's state)."""
    if isinstance(error, BudgetSpent):
        return error.charge.headers()
    return {}
