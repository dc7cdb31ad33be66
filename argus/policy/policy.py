"""The tier policy of one request, shared by ``/graphql``, the REST route and each operation
of a subscription stream (WebSocket or SSE): one entry, ``admit``, for any ``HTTPConnection``.

Order, so that refusals cost as little as possible: authenticate (401), judge what is
asked without spending anything (a GraphQL operation: resolve a persisted query, parse
within the tier's token bound, refuse a GET mutation with 405, validate with the tier's
limits: 400, no Redis work beyond the persisted query's lookup; the REST route: its own
check, at a fixed cost), charge the budget (one ``EVALSHA``; 429, or 503 when Redis is
down; skipped for tiers without a budget), and only then register a new persisted query.
The caller executes what was admitted, then derives ``Cache-Control`` from the selected
fields' hints (``max_age``) and the budget headers (``headers``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from starlette.requests import HTTPConnection

from argus.data.bounded_cache import BoundedCache
from argus.errors import ArgusError, QueryTooComplex, RequestError
from argus.graphql.engine import Engine, refused_for_tokens
from argus.graphql.selection import operation_of
from argus.policy import cache_hints
from argus.policy.api_keys import ApiKeys
from argus.policy.apq import PersistedQueries
from argus.policy.auth import Authenticator, Caller
from argus.policy.budget import Budget, BudgetSpent, Charge
from argus.policy.cost import CostWalker, check_cost_map
from argus.policy.limits import Validation, Validator, fragments_of, parse_refusal, parse_tokens
from argus.policy.tiers import TierTable
from argus.settings import Settings

T = TypeVar("T")
#: What ``admit`` judged of an operation before the charge: its text, the hash of a
#: persisted query to register once charged, its document, operation and validation.
_Judged = tuple[str, str | None, DocumentNode, OperationDefinitionNode | None, Validation]

#: What ``GET /api/intelligence/{symbol}`` answers, as GraphQL: its cost is this query's.
REST_EQUIVALENT = """{ symbol(symbol: "BTC") { regime { label } novelty { score }
  correlations(first: 20) { coefficient } } }"""


class InvalidDocument(Exception):
    """A document that does not parse, or does not validate: graphql-core's errors, which the
    HTTP view renders as GraphQL errors (their status depends on the media type, so this
    is no ``ArgusError``). ``code`` goes on each error a tier limit did not raise
    (``GRAPHQL_PARSE_FAILED`` or ``GRAPHQL_VALIDATION_FAILED``)."""

    def __init__(self, errors: tuple[GraphQLError, ...], code: str) -> None:
        super().__init__(code)
        self.errors = errors
        self.code = code

    @property
    def too_complex(self) -> bool:
        """A tier limit refused the document (400 whatever the media type)."""
        return any(isinstance(e.original_error, QueryTooComplex) for e in self.errors)


@dataclass(slots=True)
class Admission:
    """An operation admitted to run: its caller, its parsed document and operation, its
    validation (with the cost) and what the budget's charge left (``None``: no budget)."""

    caller: Caller
    query: str
    document: DocumentNode
    operation: OperationDefinitionNode | None
    validation: Validation
    charge: Charge | None


class Policy:
    """One per app: the tier table, auth, limits, budget and persisted queries, over the
    app's Redis client and ``Engine`` (whose parse cache it parses through)."""

    def __init__(self, settings: Settings, client: aioredis.Redis, engine: Engine) -> None:
        schema = engine.schema
        check_cost_map(schema)
        cache_hints.check_hints(schema)
        self.settings = settings
        self.schema = schema
        #: Parses (its cache is the engine's: the documents it returns are the ones executed).
        self.engine = engine
        self.tiers = TierTable.load(settings.tiers_file)
        self.auth = Authenticator(settings, self.tiers, ApiKeys(client, settings))
        self.persisted = PersistedQueries(client, settings)
        self.validate = Validator(schema, introspection_cost=settings.introspection_cost,
                                  cache_bytes=settings.cache_bytes)
        self.budget = Budget(client, settings.retry_after)
        self.rest_cost = rest_cost(schema)
        # An operation's hint follows from its text: keyed by the document's text and the
        # operation's offset in it (AST nodes hash by deep value). Not by ``id()``: a freed
        # document's address comes back, and the doorkeeper took it for a second use.
        self._hints: BoundedCache[tuple[str, int], tuple[int | None]] = BoundedCache(
            settings.cache_bytes, 4_096, admit_on_reuse=True)

    async def admit(self, conn: HTTPConnection, query: str | None,
                    extensions: dict[str, Any] | None, variables: Mapping[str, Any] | None,
                    operation_name: str | None, method: str | None = None, *,
                    stream: bool = False) -> Admission:
        """Admit one GraphQL operation over ``conn`` (a ``Request`` or a ``WebSocket``: the
        credentials come from its headers), or raise the refusal: an ``ArgusError`` (401,
        400 ``BAD_REQUEST``, 405 for a ``GET`` (``method``) that is not a query, 400 for a
        subscription outside a ``stream`` (WebSocket, SSE), 400 ``QUERY_TOO_COMPLEX`` past
        the token bound, 429, 503, the persisted-query ones) or ``InvalidDocument``."""
        async def judge(caller: Caller) -> tuple[_Judged, int]:
            text, unregistered = await self.persisted.resolve(query, extensions)
            if not text:
                raise RequestError("Missing 'query'.")
            document, operation, validation = self.judge_document(caller, text, variables,
                                                                  operation_name, method,
                                                                  stream=stream)
            return (text, unregistered, document, operation, validation), validation.cost

        caller, judged, charge = await self.steps(conn, judge)
        text, unregistered, document, operation, validation = judged
        if unregistered is not None:  # parsed, validated and charged: now it may be stored
            await self.persisted.register(unregistered, text)
        return Admission(caller, text, document, operation, validation, charge)

    async def admit_fixed(self, conn: HTTPConnection, cost: int,
                          check: Callable[[Caller], T]) -> tuple[Caller, T, Charge | None]:
        """Admit a request of a fixed ``cost`` (the REST route: ``rest_cost``): ``check``
        refuses bad input before the budget is charged; returns what it returned."""
        async def judge(caller: Caller) -> tuple[T, int]:
            return check(caller), cost

        return await self.steps(conn, judge)

    async def steps(self, conn: HTTPConnection,
                    judge: Callable[[Caller], Awaitable[tuple[T, int]]]) -> tuple[Caller, T, Charge | None]:
        """The order every entry shares: authenticate, judge (what it returns and the cost
        to charge), charge. Anything that can be refused without the budget is refused first."""
        caller = await self.authenticate(conn)
        judged, cost = await judge(caller)
        return caller, judged, await self.charge(caller, cost)

    def judge_document(self, caller: Caller, query: str, variables: Mapping[str, Any] | None,
                       operation_name: str | None, method: str | None = None, *,
                       stream: bool = False,
                       ) -> tuple[DocumentNode, OperationDefinitionNode | None, Validation]:
        """Parse and validate ``query`` for the caller's tier; no Redis work."""
        tier = caller.tier
        # The parser stops at the caller's bound (§15), so a long document costs an
        # anonymous caller's refusal no more than 5,001 tokens of parsing.
        max_tokens = parse_tokens(tier)
        document = self.engine.parse(query, max_tokens)
        if isinstance(document, GraphQLError):
            if refused_for_tokens(document, max_tokens):
                raise parse_refusal(tier, max_tokens)
            raise InvalidDocument((document,), "GRAPHQL_PARSE_FAILED")
        # Judged from the parsed document, before validation: the schema has no Mutation
        # type, so validation would answer 200 with an error for a GET mutation.
        operation = operation_of(document, operation_name)
        if (method == "GET" and operation is not None
                and operation.operation is not OperationType.QUERY):
            raise RequestError(f"GET requests may only run queries; send a "
                               f"{operation.operation.value} with POST.", status=405,
                               headers={"Allow": "POST"})
        if (not stream and operation is not None
                and operation.operation is OperationType.SUBSCRIPTION):
            raise RequestError("A subscription needs a stream: a WebSocket at /graphql "
                               "(graphql-transport-ws), or POST with Accept: text/event-stream.")
        validation = self.validate(query, document, tier, variables)
        if validation.errors:
            raise InvalidDocument(validation.errors, "GRAPHQL_VALIDATION_FAILED")
        return document, operation, validation

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
            loc = operation.loc
            key = None if loc is None else (loc.source.body, loc.start)
            cached = None if key is None else self._hints.get(key)
            if cached is not None:
                hint = cached[0]
            else:
                hint = cache_hints.min_hint(self.schema, operation.selection_set, root,
                                            fragments_of(document))
                if key is not None:
                    self._hints.put(key, (hint,), len(key[0]))
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
