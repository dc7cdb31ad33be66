"""The settings object: built from an explicit environment, refusing what cannot work."""

from __future__ import annotations

import gc
import os
import warnings
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus.cli import app as cli
from argus.errors import ConfigurationError
from argus.http.app import settle_heap
from argus.settings import DEFAULT_FRESHNESS, Settings, UnknownSettingWarning, _report_unknown, env_name


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


def test_every_field_is_read_from_its_variable_by_its_own_parser() -> None:
    # One variable per field, each a value other than the default: a field without a
    # parser, or a parser that drops its input, leaves a default behind.
    env = {
        "ARGUS_REDIS_CLUSTER": "yes", "ARGUS_REDIS_TIMEOUT": "0.75", "ARGUS_SCAN_COUNT": "10",
        "ARGUS_DEFAULT_EXCHANGE": "kraken", "ARGUS_QUOTES": "usd, eur", "ARGUS_DEFAULT_QUOTE": "eur",
        "ARGUS_JWT_AUDIENCE": "Api, Web", "ARGUS_CORS_ORIGINS": "HTTPS://Dash.Example.com/",
        "ARGUS_TIERS_FILE": "tiers.toml", "ARGUS_CLICKHOUSE_URL": "http://ch:8123",
        "ARGUS_STRICT_SETTINGS": "on",
    }
    settings = Settings.from_env(env)
    assert settings.redis_cluster is True
    assert settings.redis_timeout == 0.75
    assert settings.scan_count == 10
    assert settings.default_exchange == "KRAKEN"
    assert settings.quotes == ("USD", "EUR")
    assert settings.default_quote == "EUR"
    assert settings.jwt_audience == ("Api", "Web")
    assert settings.cors_origins == ("https://dash.example.com",)
    assert settings.tiers_file == Path("tiers.toml")
    assert settings.clickhouse_url == "http://ch:8123"
    assert settings.strict_settings is True


def test_each_field_declares_its_parser_and_its_variable_is_documented() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for f in fields(Settings):
        assert callable(f.metadata.get("parse")), f.name
        assert f"`{env_name(f.name)}`" in readme, f.name


def test_an_unknown_variable_warns_naming_the_closest_setting() -> None:
    with pytest.warns(UnknownSettingWarning) as caught:
        settings = Settings.from_env({"ARGUS_REDIS_URLL": "redis://elsewhere:6379/0"})
    assert [str(w.message) for w in caught] == [
        "ARGUS_REDIS_URLL (did you mean ARGUS_REDIS_URL?) is not an Argus setting; it is ignored"]
    assert settings.redis_url == "redis://localhost:6379/0"


def test_an_unknown_variable_far_from_every_setting_warns_without_a_suggestion() -> None:
    with pytest.warns(UnknownSettingWarning, match=r"^ARGUS_ZZZZZZZZ is not an Argus setting"):
        Settings.from_env({"ARGUS_ZZZZZZZZ": "1"})


def test_the_real_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("ARGUS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ARGUS_ANONYMOUS_TEIR", "internal")
    with pytest.warns(UnknownSettingWarning, match="did you mean ARGUS_ANONYMOUS_TIER"):
        Settings.from_env()


def test_with_strict_settings_an_unknown_variable_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ARGUS_STRICT_SETTINGS": "true", "ARGUS_TTLL": "60", "ARGUS_PORT": "9000"})
    assert caught.value.message == (
        "unknown setting ARGUS_TTLL (did you mean ARGUS_TTL?) (ARGUS_STRICT_SETTINGS is on)")


def test_strict_settings_can_be_turned_on_by_an_override() -> None:
    with pytest.raises(ConfigurationError, match="ARGUS_TTLL"):
        Settings.from_env({"ARGUS_TTLL": "60"}, strict_settings=True)


def test_known_variables_other_programs_variables_and_other_prefixes_do_not_warn() -> None:
    env = {env_name(f.name): "" for f in fields(Settings)} | {"ARGUS_VENV": ".venv", "ARGUSX": "1",
                                                             "PATH": "/bin", "argus_redis_urll": "x"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _report_unknown(env, strict=True)
        Settings.from_env({"ARGUS_STRICT_SETTINGS": "1", "ARGUS_VENV": ".venv", "ARGUS_TTL": "60"})


def test_an_unknown_variable_is_reported_before_a_value_it_was_meant_to_set_is_missed() -> None:
    env = {"ARGUS_JWKS_URL": "https://issuer.example.com/jwks", "ARGUS_JWT_ISUER": "https://issuer"}
    with pytest.warns(UnknownSettingWarning, match="did you mean ARGUS_JWT_ISSUER"), \
            pytest.raises(ConfigurationError, match="ARGUS_JWT_ISSUER is required"):
        Settings.from_env(env)


def test_argus_serve_reports_an_unknown_variable_at_start_up() -> None:
    # ARGUS_TTL=0 stops serve after the settings are built, before it listens.
    with pytest.warns(UnknownSettingWarning, match="ARGUS_PORTT"):
        result = CliRunner().invoke(cli, ["serve"], env={"ARGUS_PORTT": "9000", "ARGUS_TTL": "0"})
    assert result.exit_code == 1


def test_argus_serve_refuses_to_start_on_an_unknown_variable_when_strict() -> None:
    result = CliRunner().invoke(cli, ["serve"], env={"ARGUS_STRICT_SETTINGS": "true", "ARGUS_PORTT": "9000"})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: unknown setting ARGUS_PORTT (did you mean ARGUS_PORT?) (ARGUS_STRICT_SETTINGS is on)"]
