"""Query shapes shared by the tests and ``bench/`` (tests never import ``bench``)."""

from __future__ import annotations

FULL_ONE = (
    "query One($s: String!) { symbol(symbol: $s) { symbol input "
    "regime { timeframe label confidence volatility trend model computedAt ageSeconds stale } "
    "novelty { score zscore percentile window computedAt ageSeconds stale } "
    "correlations { partner { symbol } coefficient window computedAt } } }"
)
BATCH = "query Batch($s: [String!]!) { symbols(symbols: $s) { symbol regime { timeframe label confidence } } }"
