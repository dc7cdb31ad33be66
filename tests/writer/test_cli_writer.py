from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import typer
from typer.testing import CliRunner

from argus import keys
from argus.cli.writer import data_app, demo, parse_duration, ttl_app, write
from argus.settings import Settings
from argus.writer.clickhouse import ClickHouse
from tests.processes import kill_group, spawn
from tests.redis_server import RedisServer
from tests.round_trip_proxy import RoundTripProxy

app = typer.Typer()
app.add_typer(data_app, name="data")
app.add_typer(ttl_app, name="ttl")
app.command("write")(write)
app.command("demo")(demo)
runner = CliRunner()


@pytest.fixture
def env(data_dir: Path, redis_url: str) -> dict[str, str]:
    return {"ARGUS_DATA_DIR": str(data_dir), "ARGUS_REDIS_URL": redis_url, "ARGUS_TTL": "3600"}


@pytest.mark.parametrize("args", [["data", "generate"], ["data", "import"], ["ttl", "audit"],
                                  ["ttl", "fix"], ["write"], ["demo"]])
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_generate_then_write_once_fills_redis_with_ttls(env: dict[str, str],
                                                        sync_redis: redis.Redis) -> None:
    result = runner.invoke(app, ["data", "generate", "--symbols", "12", "--bars", "480",
                                 "--seed", "5"], env=env)
    assert result.exit_code == 0, result.output
    assert "generated 5,760 bars for 12 symbols" in result.output
    result = runner.invoke(app, ["write", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "wrote 12 symbols" in result.output
    assert sync_redis.hgetall(keys.regime("BINANCE:BTC-USDT", "1h"))["regime"]
    assert sync_redis.hlen(keys.UNIVERSE) == 12
    audit = runner.invoke(app, ["ttl", "audit"], env=env)
    assert audit.exit_code == 0, audit.output
    assert "total                     0 without TTL" in audit.output


def test_write_only_some_symbols(env: dict[str, str], sync_redis: redis.Redis) -> None:
    runner.invoke(app, ["data", "generate", "--symbols", "8", "--bars", "480"], env=env)
    result = runner.invoke(app, ["write", "--symbols", "btc-usd,aapl"], env=env)
    assert result.exit_code == 0, result.output
    assert sync_redis.hkeys(keys.UNIVERSE) and set(sync_redis.hkeys(keys.UNIVERSE)) == {
        "BINANCE:BTC-USDT", "AAPL"}


def test_ttl_audit_fails_then_fix_repairs(env: dict[str, str], sync_redis: redis.Redis) -> None:
    sync_redis.set(keys.novelty("AAPL"), "{}")
    sync_redis.set("unrelated", "x")
    assert runner.invoke(app, ["ttl", "audit"], env=env).exit_code == 1
    result = runner.invoke(app, ["ttl", "fix", "--ttl", "120"], env=env)
    assert result.exit_code == 0, result.output
    assert "verification: 0 keys without TTL remain" in result.output
    assert 0 < sync_redis.ttl(keys.novelty("AAPL")) <= 120
    assert sync_redis.ttl("unrelated") == -1
    assert runner.invoke(app, ["ttl", "audit"], env=env).exit_code == 0


def test_bad_import_exits_1_with_the_line(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("symbol,ts,open,high,low,close,volume\nAAPL,soon,1,2,1,1,1\n")
    result = runner.invoke(app, ["data", "import", str(path)], env=env)
    assert result.exit_code == 1
    assert "error:" in result.output and "line 2: bad timestamp 'soon'" in result.output


def test_unreachable_redis_is_a_one_line_error(env: dict[str, str]) -> None:
    down = {**env, "ARGUS_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = runner.invoke(app, ["ttl", "audit"], env=down)
    assert result.exit_code == 1
    assert result.output.strip() == "error: Redis at redis://127.0.0.1:1/0 is unreachable"


def test_conflicting_write_options_are_refused(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["write", "--once", "--every", "60s"], env=env)
    assert result.exit_code == 1
    assert "either --once or --every" in result.output
    assert runner.invoke(app, ["write", "--every", "soon"], env=env).exit_code == 1


def test_write_without_market_data_says_what_to_do(env: dict[str, str], ch: ClickHouse) -> None:
    ch.command("DROP TABLE IF EXISTS bars")
    result = runner.invoke(app, ["write", "--once"], env=env)
    assert result.exit_code == 1
    assert "no bars in ClickHouse" in result.output
    assert "argus data generate" in result.output


def test_durations() -> None:
    assert parse_duration("60s") == parse_duration("1m") == parse_duration("60") == 60
    assert parse_duration("1h") == 3600
    with pytest.raises(Exception, match="bad duration"):
        parse_duration("-5s")


def test_write_every_refreshes_until_interrupted(redis_url: str, tmp_path: Path,
                                                 sync_redis: redis.Redis) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ARGUS_DATA_DIR": str(tmp_path), "ARGUS_REDIS_URL": redis_url}
    cli = [sys.executable, "-c", "from tests.writer.test_cli_writer import app; app()"]
    subprocess.run([*cli, "data", "generate", "--symbols", "4", "--bars", "400"], env=env,
                   cwd=root, check=True, capture_output=True)
    proc = spawn([*cli, "write", "--every", "200ms"], env=env, cwd=root,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        kill_group(proc)  # a timed-out writer must not keep writing into the shared Redis
    assert all(line.startswith("wrote 4 symbols") for line in lines)
    assert proc.returncode == 130 and "interrupted" in err
    assert sync_redis.hlen(keys.UNIVERSE) == 4


def _check_written_whole(client: redis.Redis) -> int:
    """Every key has a TTL and every index lists only existing keys; return the indexes."""
    indexes = list(client.scan_iter(match="idx:*"))
    for key in client.scan_iter():
        assert client.ttl(key) > 0, key
    for idx in indexes:
        members = client.smembers(idx)
        assert members and client.exists(*members) == len(members), idx
    return len(indexes)


def test_write_every_stops_after_the_batch_under_way_on_sigterm(
        redis_server: RedisServer, redis_url: str, tmp_path: Path,
        sync_redis: redis.Redis) -> None:
    import os
    import signal
    import subprocess
    import sys

    symbols, batch = 90, 3
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ARGUS_DATA_DIR": str(tmp_path), "ARGUS_TTL": "3600",
           "ARGUS_WRITE_BATCH": str(batch)}
    cli = [sys.executable, "-c", "from tests.writer.test_cli_writer import app; app()"]
    subprocess.run([*cli, "data", "generate", "--symbols", str(symbols), "--bars", "400"],
                   env=env, cwd=root, check=True, capture_output=True)
    # Each Redis round waits 50 ms in the proxy, so the refresh takes many seconds to write
    # 30 batches, and the signal lands while it writes, not once it is done.
    proxy = RoundTripProxy(redis_server.port, quiet=0.05).start()
    proc = spawn([*cli, "write", "--every", "1h"], env={**env, "ARGUS_REDIS_URL": proxy.url},
                 cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not any(True for _ in sync_redis.scan_iter(match="idx:*")):  # the first batch
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        kill_group(proc)  # a timed-out writer must not keep writing into the shared Redis
        proxy.stop()
    assert proc.returncode == 143 and "interrupted" in err
    written = _check_written_whole(sync_redis)
    # Whole batches, fewer than all, and each one published to argus:symbols.
    assert 0 < written < symbols and written % batch == 0
    assert out == ""  # stdout lists whole refreshes only; the one cut short is on stderr
    assert f"stopped: wrote {written} symbols" in err
    assert sync_redis.hlen(keys.UNIVERSE) == written


def test_a_stop_during_compute_writes_nothing(ch: ClickHouse, table: str, settings: Settings,
                                              redis_url: str, sync_redis: redis.Redis) -> None:
    from argus.writer import market
    from argus.writer.redis_writer import connect
    from argus.writer.run import refresh

    market.generate(ch, settings, 6, 400, table=table)
    asked: list[int] = []

    def stop() -> bool:  # a signal arrives after the first compute phase began
        asked.append(1)
        return len(asked) > 1

    writer_settings = settings.with_(redis_url=redis_url)
    summary = refresh(writer_settings, connect(writer_settings), table=table, stop=stop)
    assert summary.stopped and summary.symbols == 0
    assert sync_redis.dbsize() == 0
    # Unasked, the same refresh writes every symbol.
    assert refresh(writer_settings, connect(writer_settings), table=table).symbols == 6
    assert _check_written_whole(sync_redis) == 6
