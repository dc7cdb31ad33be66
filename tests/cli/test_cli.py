"""The ``argus`` command line, through its runner and as a real server process."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import redis
from typer.testing import CliRunner

from argus.cli import app as cli
from tests.conftest import strip_cost
from tests.processes import running, wait_until_healthy
from tests.redis_server import free_port
from tests.seed import full_symbol


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (["--help"], ["serve", "--help"], ["schema", "export", "--help"], ["schema", "check", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_bad_configuration_exits_non_zero_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["serve"], env={"ARGUS_REDIS_TIMEOUT": "soon"})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: ARGUS_REDIS_TIMEOUT: could not convert string to float: 'soon'"]


def test_argus_serve_answers_queries_from_redis(redis_url: str, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:ETH-USDT", ["AAPL"])
    port = free_port()
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url, "ARGUS_ANONYMOUS_TIER": "internal"}
    with running([sys.executable, "-m", "argus", "serve", "--host", "127.0.0.1", "--port", str(port)],
                 env=env) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process, 20)
        body = httpx.post(f"{base}/graphql", json={"query": '{ symbol(symbol: "eth/usd") { symbol novelty { score } } }'}).json()
        assert strip_cost(body) == {"data": {"symbol": {"symbol": "BINANCE:ETH-USDT", "novelty": {"score": 0.5}}}}
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_the_api_never_imports_the_writer_stack() -> None:
    code = ("import sys, argus.cli, argus.http.app, argus.http.asgi; "
            "heavy = {'chdb', 'numpy', 'pyarrow', 'clickhouse_connect'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ARGUS_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert out.stdout.strip() == "[]"
