from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from argus.settings import Settings
from argus.writer import clickhouse
from argus.writer.clickhouse import ClickHouse


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data path of this test process (chDB allows one per process)."""
    return tmp_path_factory.mktemp("argus-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings.from_env({}, data_dir=data_dir)


@pytest.fixture(scope="session")
def ch(settings: Settings) -> ClickHouse:
    return clickhouse.connect(settings)


@pytest.fixture
def table(ch: ClickHouse) -> Iterator[str]:
    """A fresh bars table of this test's own, dropped afterwards."""
    name = f"bars_{uuid.uuid4().hex[:10]}"
    yield name
    ch.command(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def cli_bars(ch: ClickHouse) -> Iterator[None]:
    """A CLI test imports into the default ``bars`` table: leave none of it to other tests."""
    yield
    ch.command("DROP TABLE IF EXISTS bars")
    ch.command("DROP TABLE IF EXISTS bars_assets")
