"""Symbol normalization: every row of docs/contract/symbols.md, properties, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus.errors import InvalidSymbol
from argus.settings import Settings
from argus.symbols import MAX_LENGTH, Normalizer, Universe

normalizer = Normalizer.from_settings(Settings.from_env({}))

CONTRACT_TABLE = [
    ("BTC", "BINANCE:BTC-USDT"), ("btc", "BINANCE:BTC-USDT"), (" BTC ", "BINANCE:BTC-USDT"),
    ("BTC-USD", "BINANCE:BTC-USDT"), ("BTC/USD", "BINANCE:BTC-USDT"), ("BTCUSD", "BINANCE:BTC-USDT"),
    ("BTC-USDT", "BINANCE:BTC-USDT"), ("BTC/USDT", "BINANCE:BTC-USDT"),
    ("BTCUSDT", "BINANCE:BTC-USDT"), ("BTC_USDT", "BINANCE:BTC-USDT"),
    ("BINANCE:BTCUSDT", "BINANCE:BTC-USDT"), ("binance:btc-usdt", "BINANCE:BTC-USDT"),
    ("BINANCE:BTC/USDT", "BINANCE:BTC-USDT"), ("BINANCE:BTC-USD", "BINANCE:BTC-USDT"),
    ("COINBASE:ETH-USD", "COINBASE:ETH-USD"), ("ETH-BTC", "BINANCE:ETH-BTC"),
    ("AAPL", "AAPL"), ("aapl", "AAPL"), ("BRK.B", "BRK.B"), ("BRK-B", "BRK-B"),
    ("NASDAQ:AAPL", "NASDAQ:AAPL"),
]


@pytest.mark.parametrize(("raw", "canonical"), CONTRACT_TABLE)
def test_every_row_of_the_contract_table_normalizes(raw: str, canonical: str) -> None:
    assert normalizer.normalize(raw) == canonical


def test_a_pair_without_separator_splits_on_the_longest_known_quote() -> None:
    assert normalizer.normalize("ETHUSDC") == "BINANCE:ETH-USDC"
    assert normalizer.normalize("SOLBTC") == "BINANCE:SOL-BTC"


def test_a_lone_quote_currency_is_not_a_pair_with_itself() -> None:
    assert normalizer.normalize("USDT") == "USDT"


def test_the_universe_adds_crypto_bases_and_equity_entries_override_the_asset_list() -> None:
    universe = Universe.from_mapping({"BINANCE:ZZZ-USDT": "crypto", "STX": "equity"})
    custom = normalizer.with_universe(universe)
    assert normalizer.normalize("ZZZ") == "ZZZ"
    assert custom.normalize("ZZZ") == "BINANCE:ZZZ-USDT"
    assert normalizer.normalize("STX") == "BINANCE:STX-USDT"
    assert custom.normalize("STX") == "STX"


def test_exchange_and_quotes_are_configuration() -> None:
    custom = Normalizer.from_settings(Settings.from_env(
        {"ARGUS_DEFAULT_EXCHANGE": "kraken", "ARGUS_DEFAULT_QUOTE": "USD",
         "ARGUS_QUOTE_ALIASES": ""}))
    assert custom.normalize("BTC") == "KRAKEN:BTC-USD"
    assert custom.normalize("BTC-USD") == "KRAKEN:BTC-USD"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("A" * (MAX_LENGTH + 1), "at most 40 characters"),
        ("BTC USD", "only letters, digits"),
        ("BTC*", "only letters, digits"),
        ("idx:{BTC}", "only letters, digits"),
        ("BTC?", "only letters, digits"),
        ("[AB]", "only letters, digits"),
        ("A\\B", "only letters, digits"),
        ("ÄPPLE", "only letters, digits"),
        ("BTC\n", None),  # trimmed: valid
    ],
)
def test_bad_input_is_rejected_naming_the_input(raw: str, reason: str | None) -> None:
    if reason is None:
        assert normalizer.normalize(raw) == "BINANCE:BTC-USDT"
        return
    with pytest.raises(InvalidSymbol) as caught:
        normalizer.normalize(raw)
    assert reason in caught.value.message
    assert repr(raw) in caught.value.message
    assert caught.value.code == "BAD_USER_INPUT"


def test_an_input_whose_canonical_form_would_exceed_the_limit_is_rejected() -> None:
    raw = "X" * 36 + ":BTC"  # 40 characters in, 45 out
    with pytest.raises(InvalidSymbol, match="canonical form"):
        normalizer.normalize(raw)


symbol_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789.:/_-", min_size=1,
                      max_size=40)
crypto_like = st.builds(
    lambda ex, base, sep, quote: f"{ex}{base}{sep}{quote}",
    st.sampled_from(["", "BINANCE:", "binance:", "COINBASE:", "KRAKEN:"]),
    st.sampled_from(["BTC", "eth", "SOL", "USDT", "DOGE", "brk", "AAPL"]),
    st.sampled_from(["", "-", "/", "_"]),
    st.sampled_from(["", "USD", "USDT", "usdc", "BTC", "ETH", "B"]),
)


@given(st.one_of(symbol_text, crypto_like))
def test_normalization_is_idempotent(raw: str) -> None:
    try:
        once = normalizer.normalize(raw)
    except InvalidSymbol:
        return
    assert normalizer.normalize(once) == once


@given(st.text(max_size=60))
def test_normalization_never_emits_a_glob_or_brace_character(raw: str) -> None:
    try:
        canonical = normalizer.normalize(raw)
    except InvalidSymbol:
        return
    assert not set(canonical) & set("*?[]\\{} \t\n")
    assert canonical == canonical.upper()
    assert 0 < len(canonical) <= MAX_LENGTH


def test_reloading_an_unchanged_universe_keeps_the_normalizer() -> None:
    universe = Universe.from_mapping({"BINANCE:ZZZ-USDT": "crypto"})
    custom = normalizer.with_universe(universe)
    assert custom.with_universe(Universe.from_mapping({"BINANCE:ZZZ-USDT": "crypto"})) is custom
    assert custom.with_universe(Universe()) is not custom
