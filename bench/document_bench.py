"""What a hostile document costs to parse and refuse: ``python -m bench.document_bench``.

In process, no server: median milliseconds of parsing and validating (the tier policy's
``Validator``, uncached, every rule in one pass) for

* ``normal``: an ordinary dashboard query, the floor measured in the same run;
* ``chain20`` / ``chain40``: the issue's fragments each spreading the next twice;
* ``spread_200x800``: one 800-field fragment spread under 200 aliases (160,000 selections
  to read), refused once the walks have read ``limits.selection_budget`` (20,000);
* ``overlap_990_anonymous`` / ``overlap_4990_pro``: copies of one field within the tier's
  tokens, which graphql-core's ``OverlappingFieldsCanBeMergedRule`` compares pairwise until
  its complexity budget aborts it (``limits.overlap_budget``: 2 units per token the tier
  may send); ``overlap_4990_default``: that rule alone at graphql-core's default budget;
* ``parse_49k_full`` / ``parse_49k_anonymous``: a 49,000-field document parsed to the end
  (the largest tier's bound) and stopped at the anonymous caller's bound (5,001 tokens);

and each one's ratio to ``normal``. ``--runs N`` sets the repetitions (default 15).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from graphql import GraphQLError, GraphQLSchema, parse, validate
from graphql.validation import OverlappingFieldsCanBeMergedRule

from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.schema import schema
from argus.policy.limits import Validator, parse_tokens
from argus.policy.tiers import TierTable

NORMAL = ('{ symbol(symbol: "BTC") { regime { label confidence } novelty { score } '
          "correlations(first: 5) { coefficient partner { symbol regime { label } } } } }")


def chain(n: int) -> str:
    spreads = "\n".join(f"fragment F{i} on Symbol {{ ...F{i + 1} ...F{i + 1} }}" for i in range(1, n))
    return f'{{ symbol(symbol: "BTC") {{ ...F1 }} }}\n{spreads}\nfragment F{n} on Symbol {{ symbol }}'


def spread(positions: int, size: int) -> str:
    """One fragment of ``size`` fields spread under ``positions`` aliases."""
    inner = " ".join(f"b{i}: symbol" for i in range(size))
    outer = " ".join(f'a{i}: symbol(symbol: "B") {{ ...F }}' for i in range(positions))
    return f"{{ {outer} }} fragment F on Symbol {{ {inner} }}"


def fields(count: int) -> str:
    return '{ symbol(symbol: "BTC") { ' + "symbol " * count + "} }"


def median_ms(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1_000)
    return statistics.median(samples)


def validating(gql: GraphQLSchema, query: str, tier: str) -> Callable[[], object]:
    tiers = TierTable.default()

    def work() -> object:
        # A fresh Validator: its cache would answer every run after the first.
        return Validator(gql)(query, parse(query), tiers[tier], None)

    return work


def parsing(query: str, max_tokens: int) -> Callable[[], object]:
    def work() -> object:
        try:
            return parse(query, max_tokens=max_tokens)
        except GraphQLError as error:
            return error

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    gql = graphql_schema(schema)
    tiers = TierTable.default()
    overlap = parse(fields(4_990))
    big = fields(49_000)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("normal", validating(gql, NORMAL, "anonymous")),
        ("chain20", validating(gql, chain(20), "anonymous")),
        ("chain40", validating(gql, chain(40), "anonymous")),
        ("spread_200x800", validating(gql, spread(200, 800), "anonymous")),
        ("overlap_990_anonymous", validating(gql, fields(990), "anonymous")),
        ("overlap_4990_pro", validating(gql, fields(4_990), "pro")),
        ("overlap_4990_default", lambda: validate(gql, overlap, [OverlappingFieldsCanBeMergedRule])),
        ("parse_49k_full", parsing(big, parse_tokens(tiers["internal"]))),
        ("parse_49k_anonymous", parsing(big, parse_tokens(tiers["anonymous"]))),
    ]
    floor = None
    print(f"{'document':<22}{'median ms':>12}{'x normal':>10}")
    for name, work in rows:
        ms = median_ms(work, args.runs)
        floor = floor or ms
        print(f"{name:<22}{ms:>12.3f}{ms / floor:>10.1f}")


if __name__ == "__main__":
    main()
