"""schema.graphql at the project root is exactly what the server serves."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, print_schema
from starlette.testclient import TestClient
from typer.testing import CliRunner

from argus.cli import app as cli
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.schema import SCHEMA_FILE, schema, sdl


def test_schema_file_equals_the_served_schema(api: TestClient) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == sdl()
    introspected = api.post("/graphql", json={"query": "{ __schema { types { name } } }"}).json()
    served = {t["name"] for t in introspected["data"]["__schema"]["types"]}
    in_file = set(build_schema(SCHEMA_FILE.read_text()).type_map)
    assert served == in_file


def test_the_served_schema_contains_the_contract_minimum() -> None:
    printed = print_schema(graphql_schema(schema))
    for line in (
        "symbol(symbol: String!): Symbol",
        "symbols(symbols: [String!]!): [Symbol]!",
        "regime(timeframes: [Timeframe!]): [Regime!]",
        "correlations(first: Int = 20, minAbs: Float): [Correlation!]",
        "partner: Symbol!",
        "stale: Boolean!",
        "score: Float!",
        "coefficient: Float!",
        # docs/contract/api.md's Subscription, built (clarifications.md §14 asked it left out
        # until then)
        "regimeChanges(symbols: [String!]!, timeframes: [Timeframe!], after: String): RegimeChange!",
        "id: String!",
        "timeframe: Timeframe!",
        "previous: String",
        "computedAt: DateTime",
    ):
        assert line in printed, line
    assert "type Subscription {" in printed


def test_schema_export_and_check_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "schema.graphql"
    assert runner.invoke(cli, ["schema", "export", "--output", str(target)]).exit_code == 0
    assert target.read_text() == sdl()
    result = runner.invoke(cli, ["schema", "check"])
    assert result.exit_code == 0, result.output
