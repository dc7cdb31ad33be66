"""The keyspace contract: formatting, parsing, and pattern escaping."""

from __future__ import annotations

import pytest

from argus import keys


def test_keys_follow_the_contract_with_a_literal_hash_tag() -> None:
    assert keys.regime("BINANCE:BTC-USDT", "1h") == "regime:{BINANCE:BTC-USDT}:1h"
    assert keys.novelty("AAPL") == "novelty:{AAPL}"
    assert keys.corr("AAPL", "BINANCE:ETH-USDT") == "corr:{AAPL}:BINANCE:ETH-USDT"
    assert keys.index("AAPL") == "idx:{AAPL}"
    assert keys.EVENTS == "argus:events"
    assert keys.UNIVERSE == "argus:symbols"


def test_timeframes_run_from_one_minute_to_one_month_with_graphql_names() -> None:
    assert keys.TIMEFRAMES == ("1m", "5m", "15m", "1h", "4h", "1d", "1w", "1M")
    assert [tf.name for tf in keys.Timeframe] == ["M1", "M5", "M15", "H1", "H4", "D1", "W1", "MN1"]
    assert keys.Timeframe.from_token("1M") is keys.Timeframe.MN1


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("regime:{BINANCE:BTC-USDT}:1h", keys.Key("regime", "BINANCE:BTC-USDT", "1h")),
        ("novelty:{AAPL}", keys.Key("novelty", "AAPL")),
        ("corr:{AAPL}:BINANCE:ETH-USDT", keys.Key("corr", "AAPL", "BINANCE:ETH-USDT")),
        (b"novelty:{AAPL}", keys.Key("novelty", "AAPL")),
        ("regime:{AAPL}:2h", None),
        ("regime:{AAPL}", None),
        ("novelty:{AAPL}:x", None),
        ("corr:{AAPL}:", None),
        ("idx:{AAPL}", None),
        ("other:{AAPL}:1h", None),
        ("regime:AAPL:1h", None),
    ],
)
def test_parse_recognises_only_data_keys(name: str | bytes, parsed: keys.Key | None) -> None:
    assert keys.parse(name) == parsed
    if parsed is not None:
        assert str(parsed) == (name.decode() if isinstance(name, bytes) else name)


def test_glob_characters_are_escaped_in_scan_patterns() -> None:
    assert keys.glob_escape("A*B?C[D]E\\F") == "A\\*B\\?C\\[D\\]E\\\\F"
    assert keys.corr_pattern("BINANCE:BTC-USDT") == "corr:{BINANCE:BTC-USDT}:*"
