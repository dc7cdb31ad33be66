"""Parsing stored values: lenient for optional fields, strict for required ones."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from argus.data.namespaces.correlations import CorrelationValue, parse_correlations
from argus.data.namespaces.novelty import parse_novelty
from argus.data.namespaces.regime import RegimeValue, regime_items, regime_values
from argus.data.values import Flat, Freshness, age_of, integer, number


def parse_regime(symbol: str, timeframe: str, raw: Flat | list[str] | Mapping[Any, Any] | None,
                 now: float, freshness_limit: float) -> RegimeValue | None:
    """One ``HGETALL`` reply (RESP2's flat field/value list, or a mapping) as the loaders
    parse it."""
    items = regime_items(symbol, (timeframe,), (raw,), {timeframe: freshness_limit})
    return regime_values(items, now)[0] if items else None


def parse_correlation(symbol: str, partner: str, raw: bytes | str | None) -> CorrelationValue | None:
    values = parse_correlations(symbol, (partner,), (raw,))
    return values[0] if values else None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.5", 0.5), (b"1e3", 1000.0), (2, 2.0), (0.25, 0.25), ("nan", None), ("inf", None),
     ("-inf", None), (float("nan"), None), (float("-inf"), None), ("1e400", None),
     (10**400, None), (True, None), (False, None), (None, None), ("n/a", None), ([], None)],
)
def test_number_accepts_only_finite_numbers(raw: object, expected: float | None) -> None:
    assert number(raw) == expected


def test_integer_rejects_fractions() -> None:
    assert integer("500") == 500
    assert integer(500.0) == 500
    assert integer(12.5) is None


def test_a_regime_hash_without_its_label_is_absent_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="argus.values"):
        assert parse_regime("X", "1h", {b"confidence": b"0.5"}, 0.0, 60.0) is None
    assert "regime:{X}:1h" in caplog.text


def test_a_regime_hash_keeps_unknown_fields_for_the_rest_body() -> None:
    value = parse_regime("X", "1h", {b"regime": b"ranging", b"source": b"rust", b"computed_at": b"100"}, 130.0, 60.0)
    assert value is not None
    assert value.extra == {"source": "rust"}
    assert value.freshness == Freshness(100.0, 30.0, False)


@pytest.mark.parametrize(("computed_at", "now", "age"),
                         [(100.0, 130.12345, 30.123), (100.0, 130.9999, 31.0), (100.0, 100.0, 0.0),
                          (130.0, 100.0, 0.0), (-1.7e308, 0.0, 1.7e308), (0.0, 1e16, 1e16)])
def test_an_age_is_never_negative_and_kept_to_the_millisecond(computed_at: float, now: float,
                                                              age: float) -> None:
    assert age_of(computed_at, now) == age


def test_freshness_is_stale_past_its_limit_or_without_a_time() -> None:
    assert Freshness.of(100.0, 161.0, 60.0).stale is True
    assert Freshness.of(100.0, 160.0, 60.0).stale is False
    assert Freshness.of(None, 160.0, 60.0) == Freshness(None, None, True)
    assert Freshness.of(200.0, 160.0, 60.0).age_seconds == 0.0  # a writer clock ahead of ours


@pytest.mark.parametrize("raw", [b"{", b"[1]", b'"x"', b'{"zscore": 1}', b'{"score": "high"}'])
def test_novelty_without_a_numeric_score_is_absent(raw: bytes) -> None:
    assert parse_novelty("X", raw, 0.0, 60.0) is None


@pytest.mark.parametrize("raw", [b'{"coefficient": 1.01}', b'{"coefficient": -2}', b'{"window": 5}', b"nope"])
def test_correlation_needs_a_coefficient_within_minus_one_and_one(raw: bytes) -> None:
    assert parse_correlation("X", "Y", raw) is None


def test_correlations_sort_by_strength_then_partner() -> None:
    pairs = [("B", 0.5), ("A", -0.5), ("E", "nope"), ("C", 0.9), ("F", None), ("D", -1)]
    ordered = parse_correlations("X", [p for p, _ in pairs],
                                 [None if c is None else f'{{"coefficient": {orjson.dumps(c).decode()}}}'.encode()
                                  for _, c in pairs])
    assert [c.partner for c in ordered] == ["D", "C", "A", "B"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b'{"coefficient": 0.5, "window": 500, "computed_at": 100.5}', (0.5, 500, 100.5)),
     (b'{"coefficient": 1, "window": 500.0, "computed_at": 100}', (1.0, 500, 100.0)),
     (b'{"coefficient": "-0.25", "window": "50", "computed_at": "100.5"}', (-0.25, 50, 100.5)),
     (b'{"coefficient": -1.0, "window": 1.5, "computed_at": "soon"}', (-1.0, None, None)),
     (b'{"coefficient": 0.0, "window": true, "computed_at": null}', (0.0, None, None))],
)
def test_correlation_fields_parse_leniently(raw: bytes, expected: tuple[object, ...]) -> None:
    value = parse_correlation("X", "Y", raw)
    assert value is not None
    assert (value.coefficient, value.window, value.computed_at) == expected


def test_decoded_and_raw_hashes_parse_alike() -> None:
    raw = {b"regime": b"ranging", b"confidence": b"0.5", b"trend": b"inf", b"computed_at": b"100"}
    text = {k.decode(): v.decode() for k, v in raw.items()}
    assert parse_regime("X", "1h", raw, 130.0, 60.0) == parse_regime("X", "1h", text, 130.0, 60.0)
    parsed = parse_regime("X", "1h", text, 130.0, 60.0)
    assert parsed is not None
    assert (parsed.confidence, parsed.trend, parsed.extra) == (0.5, None, {})


def test_a_flat_hash_reply_parses_like_its_mapping() -> None:
    mapping = {b"regime": b"trending_up", b"model": b"hmm", b"confidence": b"0.7",
               b"computed_at": b"100", b"source": b"rust"}
    flat = [x for pair in mapping.items() for x in pair]
    text = [x.decode() for x in flat]
    expected = parse_regime("X", "1h", mapping, 130.0, 60.0)
    assert expected is not None
    assert parse_regime("X", "1h", flat, 130.0, 60.0) == expected
    assert parse_regime("X", "1h", text, 130.0, 60.0) == expected
    assert expected.extra == {"source": "rust"}


def test_a_value_that_spells_a_field_name_is_not_taken_for_that_field() -> None:
    # model = "confidence" comes before the real confidence field
    flat = [b"model", b"confidence", b"regime", b"model", b"confidence", b"0.25"]
    value = parse_regime("X", "1h", flat, 0.0, 60.0)
    assert value is not None
    assert (value.label, value.model, value.confidence) == ("model", "confidence", 0.25)
    assert parse_regime("X", "1h", [b"model", b"regime"], 0.0, 60.0) is None  # no 'regime' field


def test_unusable_json_is_absent_and_logged_with_its_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="argus.values"):
        assert parse_correlation("X", "Y", b"{") is None
        assert parse_novelty("X", b"[1]", 0.0, 60.0) is None
    assert "corr:{X}:Y holds invalid JSON" in caplog.text
    assert "novelty:{X} holds JSON that is not an object" in caplog.text
