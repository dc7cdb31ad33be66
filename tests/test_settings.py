"""The settings object: built from an explicit environment, refusing what cannot work."""

from __future__ import annotations

import gc

import pytest

from argus.errors import ConfigurationError
from argus.http.app import settle_heap
from argus.settings import DEFAULT_FRESHNESS, Settings


def test_freshness_limits_override_per_timeframe_keeping_case() -> None:
    settings = Settings.from_env({"ARGUS_FRESHNESS": "1m=120, 1M=999"})
    assert settings.freshness["1m"] == 120.0
    assert settings.freshness["1M"] == 999.0
    assert settings.freshness["1h"] == DEFAULT_FRESHNESS["1h"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARGUS_FRESHNESS": "1m"}, "ARGUS_FRESHNESS: expected FROM=TO pairs, got '1m'"),
        ({"ARGUS_FRESHNESS": "2h=5"}, "unknown timeframe '2h'"),
        ({"ARGUS_QUOTE_ALIASES": "USD"}, "ARGUS_QUOTE_ALIASES: expected FROM=TO pairs"),
        ({"ARGUS_DISCOVERY": "guess"}, "ARGUS_DISCOVERY must be index or scan"),
        ({"ARGUS_REDIS_TIMEOUT": "0"}, "ARGUS_REDIS_TIMEOUT must be positive"),
        ({"ARGUS_TTL": "-1"}, "ARGUS_TTL must be a positive number"),
        ({"ARGUS_GC_THRESHOLD": "-5"}, "ARGUS_GC_THRESHOLD must be 0 (off) or positive"),
        ({"ARGUS_GC_THRESHOLD": "many"}, "ARGUS_GC_THRESHOLD"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert message in caught.value.message


def test_quote_aliases_are_upper_cased() -> None:
    assert Settings.from_env({"ARGUS_QUOTE_ALIASES": "usd=usdc"}).quote_aliases == {"USD": "USDC"}


def test_the_server_heap_is_frozen_and_young_collections_wait_for_the_threshold() -> None:
    before = gc.get_threshold()
    try:
        settle_heap(Settings.from_env({"ARGUS_GC_THRESHOLD": "12345"}))
        assert gc.get_threshold() == (12345, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
