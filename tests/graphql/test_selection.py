"""Walking a document reads each fragment once: a fragment spread twice counts once.

``fragment F1 on Symbol { ...F2 ...F2 }`` ... ``fragment Fn on Symbol { symbol }`` expands
to 2^(n-1) fields when every spread is walked again; GraphQL's field merging makes it one.
The walkers' work is counted (fragment lookups, selections read), never timed.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse
from starlette.testclient import TestClient

from argus.errors import BadUserInput
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.schema import schema
from argus.graphql.selection import EMPTY_PLAN, Fields, Plan, operation_of, plan_for
from argus.http.app import create_app
from argus.policy import cache_hints, limits
from argus.policy.limits import Validator, fragments_of
from argus.policy.tiers import DEFAULT_TIERS
from argus.settings import Settings

TIERS = {tier.name: tier for tier in DEFAULT_TIERS}
SCHEMA = graphql_schema(schema)


def chain(n: int, leaf: str = "symbol") -> str:
    """The issue's document: each of ``n`` fragments spreads the next one twice."""
    spreads = "\n".join(f"fragment F{i} on Symbol {{ ...F{i + 1} ...F{i + 1} }}" for i in range(1, n))
    return f'{{ symbol(symbol: "BTC") {{ ...F1 }} }}\n{spreads}\nfragment F{n} on Symbol {{ {leaf} }}'


class CountingFragments(dict[str, FragmentDefinitionNode]):
    """Fragment definitions that count how often a walker looks one up."""

    lookups = 0

    def __getitem__(self, name: str) -> FragmentDefinitionNode:
        self.lookups += 1
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.lookups += 1
        return super().get(name, default)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[CountingFragments]:
    """Every fragment mapping the validator builds, counting its lookups."""
    made: list[CountingFragments] = []

    def counting(document: Any) -> CountingFragments:
        fragments = CountingFragments(fragments_of(document))
        made.append(fragments)
        return fragments

    monkeypatch.setattr(limits, "fragments_of", counting)
    return made


@pytest.fixture
def visits(monkeypatch: pytest.MonkeyPatch) -> list[Fields]:
    """Every ``Fields`` built, to read how many selections it read."""
    made: list[Fields] = []
    init = Fields.__init__

    def recording(self: Fields, fragments: Any, budget: int | None = None) -> None:
        init(self, fragments, budget)
        made.append(self)

    monkeypatch.setattr(Fields, "__init__", recording)
    return made


def selections_in(query: str) -> int:
    return query.count("...") + query.count("symbol") - query.count("symbol:")


def test_a_fragment_spread_twice_is_collected_once() -> None:
    document = parse('{ symbol(symbol: "BTC") { ...F ...F a: symbol } } fragment F on Symbol { symbol }')
    [root] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fields = Fields(fragments_of(document))
    [symbol] = fields.of([root.selection_set])
    assert [(g[0].alias or g[0].name).value for g in fields.children(symbol)] == ["symbol", "a"]


@pytest.mark.parametrize("n", [20, 40])
def test_validating_a_chain_of_double_spreads_reads_each_fragment_once(
        n: int, counted: list[CountingFragments], visits: list[Fields]) -> None:
    query = chain(n)
    validation = Validator(SCHEMA)(query, parse(query), TIERS["anonymous"], None)
    assert validation.errors == ()
    assert validation.cost == 1  # symbol; the merged `symbol` leaf is free
    lookups = sum(f.lookups for f in counted)
    assert lookups <= 2 * n, lookups  # 2^(n-1) spreads when every one is expanded again
    read = sum(f.visited for f in visits)
    assert read <= 2 * selections_in(query), (read, selections_in(query))


def test_the_work_grows_linearly_with_the_chain(visits: list[Fields]) -> None:
    def work(n: int) -> int:
        visits.clear()
        query = chain(n, "correlations(first: 3) { partner { regime { label } } }")
        validation = Validator(SCHEMA)(query, parse(query), TIERS["pro"], None)
        assert validation.errors == ()
        assert validation.cost == 1 + (1 + 1) * 3
        return sum(f.visited for f in visits)

    assert work(40) - work(20) == work(60) - work(40)  # the same for each 20 more fragments


def test_aliases_in_a_repeated_fragment_count_once(counted: list[CountingFragments]) -> None:
    query = chain(20, "a: symbol b: novelty { s: score }")
    validation = Validator(SCHEMA)(query, parse(query), TIERS["anonymous"], None)
    assert validation.errors == ()
    assert limits.aliases_of(_root(query).selection_set, fragments_of(parse(query))) == 3


def test_depth_of_a_chain_is_the_depth_of_its_merged_fields() -> None:
    query = chain(30, "correlations(first: 1) { partner { correlations(first: 1) { partner { symbol } } } }")
    document = parse(query)
    assert limits.depth_of(_root(query).selection_set, fragments_of(document)) == 5
    validation = Validator(SCHEMA)(query, document, TIERS["anonymous"], None)
    assert [e.message for e in validation.errors] == [
        "Query depth 5 found. Allowed for the anonymous tier: 4."]


@pytest.mark.parametrize("n", [20, 40])
def test_the_plan_and_the_cache_hint_read_each_fragment_once(n: int) -> None:
    query = chain(n, "regime { label } correlations(first: 2) { partner { novelty { score } } }")
    document = parse(query)
    fragments = CountingFragments(fragments_of(document))
    root = _root(query)
    [symbol] = [s for s in root.selection_set.selections if isinstance(s, FieldNode)]
    plan = plan_for([symbol], fragments, {})
    assert plan.needs == {"regime", "corr"} and plan.partner.needs == {"novelty"}
    assert SCHEMA.query_type is not None
    hint = cache_hints.min_hint(SCHEMA, root.selection_set, SCHEMA.query_type, fragments)
    assert hint == 60
    assert fragments.lookups <= 4 * n, fragments.lookups


def _root(query: str) -> OperationDefinitionNode:
    [root] = [d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode)]
    return root


def test_the_issues_document_answers_at_cost_one(redis_url: str) -> None:
    with TestClient(create_app(Settings.from_env({}, redis_url=redis_url))) as client:
        response = client.post("/graphql", json={"query": chain(40)})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["extensions"]["cost"]["requested"] == 1


def test_field_merging_checks_spend_a_budget_linear_in_the_tiers_tokens(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # graphql-core compares same-named fields pairwise: 990 copies are ~980,000 units.
    from graphql.validation.rules import overlapping_fields_can_be_merged as overlapping
    spent = [0]
    spend = overlapping.spend_complexity_budget

    def counting(context: Any, cost: int) -> None:
        spent[0] += cost
        spend(context, cost)

    monkeypatch.setattr(overlapping, "spend_complexity_budget", counting)
    query = '{ symbol(symbol: "BTC") { ' + "symbol " * 990 + "} }"
    validation = Validator(SCHEMA)(query, parse(query), TIERS["anonymous"], None)
    assert [e.message for e in validation.errors] == ["Validation aborted."]
    assert spent[0] <= limits.overlap_budget(TIERS["anonymous"]) + 2 == 10_002
    assert overlapping.MAX_COMPLEXITY_BUDGET == 500_000  # restored for everyone else


def test_a_fragment_spread_under_many_aliases_is_refused_within_a_bound(
        visits: list[Fields]) -> None:
    # 200 positions × 800 fields: 160,000 selections to read for a 4,800-token document.
    fields = " ".join(f"b{i}: symbol" for i in range(800))
    positions = " ".join(f'a{i}: symbol(symbol: "B") {{ ...F }}' for i in range(200))
    query = f"{{ {positions} }} fragment F on Symbol {{ {fields} }}"
    budget = limits.selection_budget(TIERS["anonymous"])
    assert budget == 20_000
    validation = Validator(SCHEMA)(query, parse(query), TIERS["anonymous"], None)
    [error] = [e for e in validation.errors if e.message.startswith("More than")]
    assert error.message == ("More than 20000 selections found once fragments are expanded. "
                             "Allowed for the anonymous tier: 20000.")
    assert error.original_error.as_extensions()["limit"] == "maxSelections"  # type: ignore[union-attr]
    assert sum(f.visited for f in visits) <= budget + 1


# --- Plans: what one query level needs, read before Redis is touched -----------------------

def plan_of(query: str, variables: dict[str, Any] | None = None) -> Plan:
    document = parse(query)
    operation = operation_of(document, None)
    assert operation is not None
    [root] = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    return plan_for([root], fragments_of(document), variables or {})


def test_a_plan_needs_only_the_namespaces_selected() -> None:
    assert plan_of('{ symbol(symbol: "BTC") { symbol regime { label } } }').needs == {"regime"}
    assert plan_of('{ symbol(symbol: "BTC") { novelty { score } } }').needs == {"novelty"}
    assert plan_of('{ symbol(symbol: "BTC") { symbol input } }') == EMPTY_PLAN


def test_a_plan_follows_aliases_and_both_kinds_of_fragment() -> None:
    query = """{ symbol(symbol: "BTC") { a: regime { label } ...N ... on Symbol { c: correlations {
                 coefficient } } } }
               fragment N on Symbol { novelty { score } }"""
    assert plan_of(query).needs == {"regime", "novelty", "corr"}


def test_a_partner_selection_plans_the_next_level() -> None:
    plan = plan_of('{ symbol(symbol: "BTC") { correlations { partner { regime { label } } } } }')
    assert plan.needs == {"corr"}
    assert plan.partner.needs == {"regime"}
    assert plan.partner.partner == EMPTY_PLAN


def test_partner_plans_of_two_correlation_selections_merge() -> None:
    plan = plan_of("""{ symbol(symbol: "BTC") {
        x: correlations { partner { regime { label } } }
        y: correlations(first: 1) { partner { novelty { score } } } } }""")
    assert plan.partner.needs == {"regime", "novelty"}


def test_plans_merge_their_needs_and_partners() -> None:
    merged = Plan(frozenset({"regime"}), Plan(frozenset({"novelty"}))).merge(
        Plan(frozenset({"corr"}), Plan(frozenset({"regime"}))))
    assert merged == Plan(frozenset({"regime", "corr"}), Plan(frozenset({"novelty", "regime"})))


@pytest.mark.parametrize(("arguments", "variables", "message"), [
    ("first: -1", {}, "correlations(first:) must be at least 0, got -1."),
    ("minAbs: 1.5", {}, "correlations(minAbs:) must be within 0..1, got 1.5."),
    ("first: $n", {"n": -2}, "correlations(first:) must be at least 0, got -2."),
])
def test_bad_correlation_arguments_fail_while_planning(arguments: str, variables: dict[str, Any],
                                                       message: str) -> None:
    query = f'query($n: Int) {{ symbol(symbol: "BTC") {{ correlations({arguments}) {{ coefficient }} }} }}'
    with pytest.raises(BadUserInput) as caught:
        plan_of(query, variables)
    assert caught.value.message == message


def test_the_operation_is_the_named_one_or_the_only_one() -> None:
    document = parse("query A { __typename } query B { __typename }")
    named = operation_of(document, "B")
    assert named is not None and named.name is not None and named.name.value == "B"
    assert operation_of(document, None) is None  # several and no name
    assert operation_of(document, "C") is None
    only = operation_of(parse("{ __typename }"), None)
    assert only is not None and only.name is None
