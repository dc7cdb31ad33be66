"""Each namespace's ``FIELDS`` (``argus.data.namespaces``) reach all four places built from them:
the Strawberry type, the compiled path's leaves, the REST body and the writer's Lua arguments.
A field added to ``regime.FIELDS`` alone reaches them too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import graphql
import pytest
import redis
from graphql import parse

from argus import keys
from argus.data.loaders import SymbolData
from argus.data.namespaces import NAMESPACES, Field, Fields, camel, correlations, novelty, regime
from argus.data.namespaces.correlations import CorrelationValue
from argus.data.namespaces.novelty import NoveltyValue
from argus.data.namespaces.regime import RegimeValue, regime_items
from argus.data.store import SymbolIndex
from argus.data.values import Freshness, number_field, text_field
from argus.graphql import compiled
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.schema import schema
from argus.http.rest import body_of, regime_body
from argus.settings import Settings
from argus.writer.compute import SymbolOutput
from argus.writer.redis_writer import RedisWriter, _regime_pairs, _script_call

ROOT = Path(__file__).resolve().parents[2]
_SCALARS = {"number": "Float", "text": "String", "integer": "Int"}
NOW = 1_795_000_100.0


def full_hash(fields: Fields = regime.FIELDS) -> dict[str, str]:
    """A regime hash as the writer computes it, every declared field set."""
    values = {f.name: (f"text-{f.name}" if f.kind == "text" else str(0.125 + i))
              for i, f in enumerate(fields)}
    return {"regime": "ranging", **values, "computed_at": repr(NOW - 30.0)}


def flat(h: dict[str, str]) -> list[bytes]:
    return [x.encode() for pair in h.items() for x in pair]


def regime_value(h: dict[str, str]) -> RegimeValue:
    return RegimeValue("1h", h["regime"], flat(h), NOW, 60.0)


def expected(field: Field, h: dict[str, str]) -> Any:
    raw = h.get(field.name)
    if raw is None:
        return None
    return raw if field.kind == "text" else float(raw)


def test_the_registry_is_in_namespace_order() -> None:
    assert tuple(ns.NAME for ns in NAMESPACES) == keys.NAMESPACES
    assert camel("variance_ratio") == "varianceRatio"
    assert camel("score") == "score"


@pytest.mark.parametrize(("module", "type_name"),
                         [(regime, "Regime"), (novelty, "Novelty"), (correlations, "Correlation")])
def test_every_declared_field_is_a_field_of_the_graphql_type(module: Any, type_name: str) -> None:
    gql_type = graphql_schema(schema).get_type(type_name)
    assert isinstance(gql_type, graphql.GraphQLObjectType)
    for f in module.FIELDS:
        field = gql_type.fields[f.graphql]
        kind = field.type.of_type if f.required else field.type
        assert isinstance(field.type, graphql.GraphQLNonNull) is f.required
        assert kind.name == _SCALARS[f.kind], f
        assert field.description == f.description


def test_declared_fields_keep_their_order_in_the_graphql_types() -> None:
    def names(type_name: str) -> list[str]:
        return list(graphql_schema(schema).get_type(type_name).fields)  # type: ignore[union-attr]

    assert names("Regime") == ["timeframe", "label", *(f.graphql for f in regime.FIELDS),
                               "computedAt", "ageSeconds", "stale"]
    assert names("Novelty") == [*(f.graphql for f in novelty.FIELDS),
                                "computedAt", "ageSeconds", "stale"]
    assert names("Correlation") == ["partner", *(f.graphql for f in correlations.FIELDS), "computedAt"]


def test_every_declared_field_is_a_compiled_leaf() -> None:
    for f in regime.FIELDS:
        assert compiled._REGIME[f.graphql] == f"x_{f.name}"
        assert compiled._REGIME_READS[f.graphql] == f.name
    for f in novelty.FIELDS:
        assert compiled._NOVELTY[f.graphql] == f"v.{f.name}"
    for f in correlations.FIELDS:
        assert compiled._CORRELATION[f.graphql] == f"v.{f.name}"


def compiled_regime(h: dict[str, str], fields: Fields = regime.FIELDS) -> dict[str, Any]:
    selection = " ".join(["label", *(f.graphql for f in fields), "ageSeconds"])
    document = parse(f"{{ regime {{ {selection} }} }}")
    node = document.definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    build = compiled._regime_builder(node.selection_set, fields)
    out: list[dict[str, Any]] = build([("1h", h["regime"], flat(h), 60.0)], NOW, None)
    return out[0]


def test_the_compiled_path_and_the_value_type_read_every_field_alike() -> None:
    h = full_hash()
    answer = compiled_regime(h)
    value = regime_value(h)
    for f in regime.FIELDS:
        assert answer[f.graphql] == value.get(f) == getattr(value, f.name) == expected(f, h)
    assert answer["ageSeconds"] == value.freshness.age_seconds == 30.0


@pytest.mark.parametrize("raw", [b"0.5", b"-1e3", b"nan", b"inf", b"-inf", b"", b"n/a", b" 2 ", b"1_0",
                                 "é".encode(), b"\xff", b"confidence"])
def test_one_number_parser_for_both_paths(raw: bytes) -> None:
    # The value spells a field name too: the odd-position hit must not be taken for the field.
    hashes = [[b"regime", b"x", b"confidence", raw], [b"model", b"confidence", b"regime", b"x", b"confidence", raw],
              [b"regime", b"x"]]
    for hash_ in hashes:
        answer = compiled._regime_builder(
            parse("{ regime { confidence model } }").definitions[0]  # type: ignore[attr-defined]
            .selection_set.selections[0].selection_set)([("1h", "x", hash_, 60.0)], NOW, None)[0]
        assert answer["confidence"] == number_field(hash_, b"confidence")
        assert answer["model"] == text_field(hash_, b"model")


def symbol_data(h: dict[str, str]) -> SymbolData:
    data = SymbolData(SymbolIndex("X", ("1h",), novelty=True, partners=("Y",)))
    data.regime_items = regime_items("X", ("1h",), [flat(h)], {"1h": 60.0})
    data.read_at = NOW
    data.novelty = NoveltyValue(0.5, 1.0, 0.9, 100, Freshness(NOW - 5.0, 5.0, False))
    data.correlations = [CorrelationValue("Y", 0.75, 200, NOW - 5.0)]
    return data


def test_every_declared_field_is_in_the_rest_body_when_the_hash_has_it() -> None:
    h = full_hash()
    body = body_of(symbol_data(h), "x")
    listed = body["regime"]["1h"]
    assert list(listed) == ["regime", *(f.name for f in regime.FIELDS if f.contract),
                            "computed_at", "age_seconds", "stale",
                            *(f.name for f in regime.FIELDS if not f.contract)]
    for f in regime.FIELDS:
        assert listed[f.name] == expected(f, h)
    assert list(body["novelty"]) == [*(f.name for f in novelty.FIELDS), "computed_at", "age_seconds", "stale"]
    assert list(body["correlations"][0]) == ["symbol", *(f.name for f in correlations.FIELDS), "computed_at"]


def test_the_rest_body_lists_contract_fields_always_and_added_ones_when_stored() -> None:
    bare = {"regime": "ranging", "computed_at": repr(NOW)}
    listed = body_of(symbol_data(bare), "x")["regime"]["1h"]
    for f in regime.FIELDS:
        if f.contract:
            assert listed[f.name] is None
        else:
            assert f.name not in listed


def test_every_declared_field_is_a_pair_of_the_writers_script() -> None:
    h = full_hash()
    pairs = _regime_pairs(h)
    assert pairs[:2] == ["regime", "ranging"]  # the script reads the label from there
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == h
    names, args = _script_call(SymbolOutput("X", regimes={"1h": h}), 60)
    assert args[:4] == [60, 1, 0, 8]
    assert args[4:] == [len(pairs) // 2, *pairs]
    assert names[:2] == [keys.index("X"), keys.regime("X", "1h")]


def test_the_stored_hash_holds_every_declared_field_and_empty_for_an_optional_one_not_computed(
        redis_url: str, sync_redis: redis.Redis) -> None:
    settings = Settings.from_env({}, redis_url=redis_url, ttl=600)
    h = full_hash()
    partial = {k: v for k, v in h.items() if k not in ("model", "drawdown")}
    RedisWriter(redis.Redis.from_url(redis_url), settings).write(
        [SymbolOutput("X", regimes={"1h": h, "1d": partial})])
    assert sync_redis.hgetall(keys.regime("X", "1h")) == h  # a decoding client
    assert sync_redis.hgetall(keys.regime("X", "1d")) == {**partial, "model": "", "drawdown": ""}


SKEW = Field("skew", description="Third standardized moment of returns.", contract=False)


def test_an_added_field_flows_through_the_build_functions() -> None:
    fields = (*regime.FIELDS, SKEW)
    h = {**full_hash(), "skew": "-0.5"}
    assert compiled_regime(h, fields)["skew"] == -0.5
    assert regime_body(regime_value(h), fields)["skew"] == -0.5
    assert "skew" not in regime_body(regime_value(full_hash()), fields)
    assert _regime_pairs(h, fields)[-4:-2] == ["skew", "-0.5"]
    assert "skew" not in regime_value(h).extra_beyond(regime.known(fields))


_ADDED_FIELD = textwrap.dedent('''
    import asyncio
    from argus.data.namespaces import Field, regime
    regime.FIELDS = (*regime.FIELDS, Field("skew", description="Skewness of returns.", contract=False))

    from graphql import parse
    from argus.data.loaders import SymbolData
    from argus.data.namespaces.regime import RegimeValue, regime_items
    from argus.data.store import SymbolIndex
    from argus.graphql import compiled
    from argus.graphql.schema import schema
    from argus.graphql.types import Regime
    from argus.http.rest import body_of
    from argus.writer.compute import SymbolOutput
    from argus.writer.redis_writer import _script_call

    import re
    sdl = schema.as_str()
    before = regime.FIELDS[-2].graphql  # the field declared before it comes before it
    assert re.search(rf'\\n  {before}: \\w+\\n\\n  """Skewness of returns."""\\n  skew: Float\\n', sdl), sdl
    h = {"regime": "ranging", "confidence": "0.5", "skew": "-0.25", "computed_at": "100"}
    flat = [x.encode() for pair in h.items() for x in pair]
    assert Regime.of(RegimeValue("1h", "ranging", flat, 130.0, 60.0)).skew == -0.25
    node = parse("{ regime { label skew } }").definitions[0].selection_set.selections[0]
    assert compiled._symbol_fields(parse("{ regime { skew } }").definitions[0].selection_set)
    assert compiled._regime_builder(node.selection_set)([("1h", "ranging", flat, 60.0)], 130.0, None) == [
        {"label": "ranging", "skew": -0.25}]
    data = SymbolData(SymbolIndex("X", ("1h",)))
    data.regime_items = regime_items("X", ("1h",), [flat], {"1h": 60.0})
    data.read_at = 130.0
    body = body_of(data, "x")["regime"]["1h"]
    assert body["skew"] == -0.25 and list(body)[-1] == "skew", body
    names, args = _script_call(SymbolOutput("X", regimes={"1h": {**h, "skew": "-0.25"}}), 60)
    assert args[5:7] == ["regime", "ranging"] and "skew" in args, args
    print("ok")
''')


def test_a_field_added_to_regime_fields_alone_reaches_all_four() -> None:
    # A fresh interpreter: the types and tables are built at import, after the patch.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _ADDED_FIELD], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["x-y", "Skew", "_skew", "a b", "x)\nimport os"])
def test_a_field_name_is_a_lower_case_identifier(name: str) -> None:
    # Names enter the compiled path's generated code: only identifiers do.
    with pytest.raises(ValueError, match="lower-case identifier"):
        Field(name)
