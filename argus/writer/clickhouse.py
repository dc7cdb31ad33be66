"""One ClickHouse client for the writer: embedded chDB or a server, the same SQL on both.

* ``ARGUS_CLICKHOUSE_URL`` set (``http://user:pass@host:8123/db``): a clickhouse-connect
  HTTP client to that server.
* Otherwise chDB embedded under ``ARGUS_DATA_DIR`` (clickhouse-connect's ``chdb://`` DSN),
  so the writer needs no server at all.

chDB allows one data path per process, so clients are cached per path and a second path
in the same process is refused with a clear error instead of a native crash. The async
clickhouse-connect client does not work on chDB, so the ClickHouse side is synchronous.

Driver errors are translated here (``DataSourceError``); nothing above sees them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from argus.errors import DataSourceError
from argus.settings import Settings

_lock = threading.Lock()
_chdb_clients: dict[Path, Any] = {}


@contextmanager
def map_clickhouse_errors(what: str = "ClickHouse") -> Iterator[None]:
    """Translate clickhouse-connect / chDB failures into ``DataSourceError``."""
    from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError

    try:
        yield
    except DataSourceError:
        raise
    except (ClickHouseDriverError, OSError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataSourceError(f"{what} failed: {first_line[:300]}") from exc


class ClickHouse:
    """A thin wrapper: ``command``, ``rows`` and ``arrow``, all with translated errors."""

    def __init__(self, client: Any, *, embedded: bool, where: str) -> None:
        self.client = client
        self.embedded = embedded
        self.where = where

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with map_clickhouse_errors():
            return self.client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        with map_clickhouse_errors():
            return list(self.client.query(sql, parameters=parameters).result_rows)

    def arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """A ``pyarrow.Table`` (one stream; never several concatenated, which chDB dislikes)."""
        with map_clickhouse_errors():
            return self.client.query_arrow(sql, parameters=parameters)

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.rows(sql, parameters)
        return rows[0][0] if rows else None


def connect(settings: Settings) -> ClickHouse:
    """The ClickHouse of ``settings``: the server when a URL is set, else embedded chDB."""
    import clickhouse_connect

    if settings.clickhouse_url:
        with map_clickhouse_errors(f"connecting to {_redact(settings.clickhouse_url)}"):
            server: Any = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
        return ClickHouse(server, embedded=False, where=_redact(settings.clickhouse_url))
    path = Path(settings.data_dir).expanduser().resolve() / "clickhouse"
    with _lock:
        client: Any = _chdb_clients.get(path)
        if client is None:
            if _chdb_clients:
                other = next(iter(_chdb_clients))
                raise DataSourceError(
                    f"chDB is already open at {other} in this process; one data path per process"
                )
            path.mkdir(parents=True, exist_ok=True)
            with map_clickhouse_errors(f"opening chDB at {path}"):
                client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
            _chdb_clients[path] = client
    return ClickHouse(client, embedded=True, where=str(path))


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
