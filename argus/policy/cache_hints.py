"""Per-field cache hints (Apollo ``@cacheControl`` semantics) and the response's headers.

A response may be cached for N seconds, N the smallest hint among the hinted fields it
selected at any depth (fields without a hint do not count; their hinted ancestors'
hints cover them, as Apollo's inheritance does), capped by the tier's ``s-maxage``. A query
with no hinted field gets the cap (``docs/contract/clarifications.md`` §7)::

    Cache-Control: public, max-age=0, s-maxage=N     shared caches (CDN) only
    Cache-Control: private, no-store                  N = 0 (internal), or any error

``max-age=0`` keeps browsers revalidating while a CDN serves the hot dashboard queries.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
    get_named_type,
)

from argus.errors import ConfigurationError
from argus.graphql.selection import Fields, Group, key, name_of
from argus.policy.tiers import Tier

#: ``{Type: {field: seconds}}``, checked against the schema at start-up.
HINTS: dict[str, dict[str, int]] = {
    "Symbol": {"regime": 60, "novelty": 300, "correlations": 900},
}
NO_STORE = "private, no-store"
#: What changes an answer besides the URL and body: the media type and the caller's tier.
VARY = "Accept, Authorization, X-API-Key"
#: The REST route selects all three namespaces.
REST_HINT = min(HINTS["Symbol"].values())


def check_hints(schema: GraphQLSchema, hints: Mapping[str, Mapping[str, int]] = HINTS) -> None:
    for type_name, fields in hints.items():
        gql_type = schema.get_type(type_name)
        if not isinstance(gql_type, GraphQLObjectType):
            raise ConfigurationError(f"cache hints: no object type {type_name!r}")
        for field_name in fields:
            if field_name not in gql_type.fields:
                raise ConfigurationError(f"cache hints: no field {type_name}.{field_name}")


def min_hint(schema: GraphQLSchema, selection_set: SelectionSetNode | None,
             parent: GraphQLObjectType,
             fragments: Mapping[str, FragmentDefinitionNode] | Fields) -> int | None:
    """The smallest hint among selected hinted fields; ``None`` when none is selected."""
    fields = fragments if isinstance(fragments, Fields) else Fields(fragments)
    memo: dict[tuple[tuple[int, ...], str], int | None] = {}

    def smallest(groups: list[Group], parent: GraphQLObjectType) -> int | None:
        found: int | None = None
        for group in groups:
            definition = parent.fields.get(name_of(group))
            if definition is None:
                continue
            hints = [HINTS.get(parent.name, {}).get(name_of(group))]
            child = get_named_type(definition.type)
            if isinstance(child, GraphQLObjectType):
                at = (key(group), parent.name)
                if at not in memo:
                    memo[at] = smallest(fields.children(group), child)
                hints.append(memo[at])
            for hint in hints:
                if hint is not None:
                    found = hint if found is None else min(found, hint)
        return found

    return smallest(fields.of([selection_set]), parent)


def shared_max_age(hint: int | None, tier: Tier) -> int:
    return tier.s_maxage if hint is None else min(hint, tier.s_maxage)


def cache_control(max_age: int, errors: bool) -> str:
    if errors or max_age <= 0:
        return NO_STORE
    return f"public, max-age=0, s-maxage={max_age}"
