from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from argus.errors import DataSourceError
from argus.settings import Settings
from argus.writer import clickhouse, market
from argus.writer.clickhouse import ClickHouse
from argus.writer.compute import compute


def test_driver_errors_become_data_source_errors(ch: ClickHouse) -> None:
    with pytest.raises(DataSourceError, match=r"UNKNOWN_TABLE|Unknown table"):
        ch.rows("SELECT * FROM no_such_table_anywhere")


def test_a_second_chdb_path_in_one_process_is_refused(ch: ClickHouse, tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="one data path per process"):
        clickhouse.connect(Settings.from_env({}, data_dir=tmp_path))


def test_the_writer_cli_module_imports_no_heavy_dependency() -> None:
    code = ("import sys, argus.cli.writer, argus.cli.demo; "
            "print(sorted(m for m in ('chdb', 'clickhouse_connect', 'numpy', 'pyarrow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not os.environ.get("ARGUS_CLICKHOUSE_URL"),
                    reason="set ARGUS_CLICKHOUSE_URL to test against a ClickHouse server")
def test_the_same_sql_runs_on_a_clickhouse_server() -> None:
    settings = Settings.from_env(None)
    server = clickhouse.connect(settings)
    assert not server.embedded
    table = f"argus_test_{uuid.uuid4().hex[:10]}"
    try:
        market.generate(server, settings, 6, 480, seed=1, table=table)
        outputs = compute(server, settings, table=table).outputs
        assert len(outputs) == 6 and all(len(o.regimes) == 8 for o in outputs)
    finally:
        server.command(f"DROP TABLE IF EXISTS {table}")
