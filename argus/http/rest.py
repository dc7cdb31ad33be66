"""The original REST route, ``GET /api/intelligence/{symbol}``, kept for old clients.

It uses the same normalization and the same loader as GraphQL (two Redis rounds), and
answers 200 with nulls for missing namespaces, 404 only when all three are absent, 400 for
a bad symbol and 503 when Redis is down; errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from argus.data.loaders import ALL_NEEDS, SymbolData
from argus.data.namespaces import Fields, correlations, novelty, regime
from argus.data.namespaces.regime import RegimeValue
from argus.errors import ArgusError, symbol_not_found
from argus.http.context import Context
from argus.http.deadline import RequestBounds
from argus.http.render import error_headers, render
from argus.policy.auth import Caller
from argus.policy.cache_hints import REST_HINT, shared_max_age
from argus.policy.policy import Policy, refusal_headers

#: The REST body lists this many correlations, strongest first (``docs/contract/api.md``).
REST_CORRELATIONS = 20


def regime_body(r: RegimeValue, fields: Fields = regime.FIELDS) -> dict[str, Any]:
    """One regime hash as REST lists it: its label, the contract's fields (``null`` when
    missing), its time and freshness, other writers' fields as stored, then the added
    fields the hash has (``Field.contract``)."""
    f = r.freshness
    body: dict[str, Any] = {"regime": r.label}
    for field in fields:
        if field.contract:
            body[field.name] = r.get(field)
    body["computed_at"] = f.computed_at
    body["age_seconds"] = f.age_seconds
    body["stale"] = f.stale
    body.update(r.extra if fields is regime.FIELDS else r.extra_beyond(regime.known(fields)))
    for field in fields:
        if not field.contract and r.has(field):
            body[field.name] = r.get(field)
    return body


def body_of(data: SymbolData, raw: str) -> dict[str, Any]:
    regime_of = None
    if data.regimes is not None:
        regime_of = {r.timeframe: regime_body(r) for r in data.regimes}
    novelty_of = None
    if data.novelty is not None:
        n = data.novelty
        novelty_of = {
            **{field.name: getattr(n, field.name) for field in novelty.FIELDS},
            "computed_at": n.freshness.computed_at, "age_seconds": n.freshness.age_seconds,
            "stale": n.freshness.stale,
        }
    correlations_of = None
    if data.correlations is not None:
        correlations_of = [
            {"symbol": c.partner, **{field.name: getattr(c, field.name) for field in correlations.FIELDS},
             "computed_at": c.computed_at}
            for c in data.correlations[:REST_CORRELATIONS]
        ]
    return {"symbol": data.symbol, "input": raw, "regime": regime_of, "novelty": novelty_of,
            "correlations": correlations_of}


def error_response(error: ArgusError, headers: dict[str, str] | None = None) -> Response:
    return render({"error": {"code": error.code, "message": error.message}}, error.status,
                  headers={"Cache-Control": "private, no-store", **(headers or {}),
                           **error_headers(error), **refusal_headers(error)})


async def intelligence(request: Request, make_context: Callable[[Caller], Context],
                       policy: Policy, bounds: RequestBounds) -> Response:
    """The tier policy of ``/graphql`` applies: auth, the budget (at the cost of the
    equivalent query) and ``Cache-Control`` from the three namespaces' hints. A bad symbol
    is refused before the budget is charged (``Policy.admit_fixed``'s check)."""
    raw = request.path_params["symbol"]
    charge = None

    def check(caller: Caller) -> tuple[Context, str]:
        context = make_context(caller)
        return context, context.normalizer.normalize(raw)

    try:
        async with bounds():
            caller, (context, canonical), charge = await policy.admit_fixed(
                request, policy.rest_cost, check)
            data = await context.intelligence.load((canonical, ALL_NEEDS))
        if not data.exists:
            raise symbol_not_found(canonical)
    except ArgusError as exc:
        return error_response(exc, policy.headers(0, True, charge))
    headers = policy.headers(shared_max_age(REST_HINT, caller.tier), False, charge)
    return render(body_of(data, raw), headers=headers)
