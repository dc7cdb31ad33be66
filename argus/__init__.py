"""Argus: a market-intelligence API (regime, novelty, correlations) over Redis."""

__version__ = "0.1.0"
