"""The store's reading of an index: only the symbol's own data keys count."""

from __future__ import annotations

from argus import keys
from argus.data.store import SymbolIndex

BTC = "BINANCE:BTC-USDT"


def test_an_index_speaks_only_for_its_own_symbol() -> None:
    members = [
        keys.regime(BTC, "1h"), keys.regime(BTC, "1m"), keys.novelty(BTC),
        keys.corr(BTC, "AAPL"), keys.corr(BTC, "BINANCE:ETH-USDT"),
        keys.regime(BTC, "2h"), keys.corr(BTC, ""), keys.regime(BTC, "1h") + ":x",
        keys.regime("AAPL", "1h"), keys.novelty("AAPL"), keys.index(BTC), "garbage", "",
    ]
    index = SymbolIndex.from_keys(BTC, members)
    # As a client that does not decode replies gives them: the same index.
    assert SymbolIndex.from_keys(BTC, {m.encode() for m in members}) == index
    assert index.timeframes == ("1m", "1h")
    assert index.regime_names == (keys.regime(BTC, "1m"), keys.regime(BTC, "1h"))
    assert index.novelty is True
    assert index.partners == ("AAPL", "BINANCE:ETH-USDT")
    assert index.partner_names == (keys.corr(BTC, "AAPL"), keys.corr(BTC, "BINANCE:ETH-USDT"))
    assert index.exists


def test_an_empty_or_foreign_index_means_no_data() -> None:
    assert not SymbolIndex.from_keys(BTC, []).exists
    assert not SymbolIndex.from_keys(BTC, [keys.novelty("AAPL"), "regime:{BINANCE:BTC-USDT}"]).exists
