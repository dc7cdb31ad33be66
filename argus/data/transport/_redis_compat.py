"""Every private redis-py internal Argus touches, each behind one named function.

``fastpipe`` reads and writes a redis-py connection's socket itself (see its docstring for
why), which public API does not offer at no cost. What it needs beyond public API is here,
so an upgrade that moves one internal breaks one function, and
``tests/data/test_redis_compat.py`` names it. ``pyproject.toml`` pins ``redis>=8.0,<9``, the
major tested (``scripts/compat-matrix.sh`` runs the suite on both bounds).

Kept private, each because the public form costs the fast path (``bench.read_bench``):

* ``streams``: ``conn._reader`` / ``conn._writer``. ``send_packed_command`` runs each write
  under ``asyncio.wait_for`` (a task per round when a ``socket_timeout`` is set, as Argus
  sets it) and always awaits ``drain``, measurable on a 1-symbol answer (the README's
  "Dependency bounds"); ``read_response`` parses one reply per call through
  redis-py's parser, thousands of calls for a 1,000-symbol round that one ``hiredis.Reader``
  fed from the socket parses in bulk.
* ``abort``: ``conn._writer.transport.abort()`` from a timer callback, which cannot await
  the public ``disconnect``.
* ``parse_error``: ``redis._parsers.base.BaseParser.parse_error``, redis-py's mapping of an
  error reply to its exception classes (``ResponseError``, ``NoScriptError``, ...), so
  fastpipe raises what the client would; there is no public form.

``Connection.should_reconnect`` was sniffed for here while 6.x (without it) was allowed; it is
public on every allowed version (``redis>=8.0``: 6.x and 7.x fail ``tests/data/test_faults.py``
on uvloop), so fastpipe calls it directly.
"""

from __future__ import annotations

import asyncio

from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection


def streams(conn: AbstractConnection) -> tuple[asyncio.StreamWriter, asyncio.StreamReader] | None:
    """The connection's socket streams, or ``None`` once it has been torn down."""
    writer, reader = conn._writer, conn._reader
    if writer is None or reader is None:
        return None
    return writer, reader


def abort(conn: AbstractConnection) -> None:
    """Abort the connection's transport at once (a pending read on it ends)."""
    writer = conn._writer
    if writer is not None:
        writer.transport.abort()


def parse_error(message: str) -> Exception:
    """The exception redis-py raises for the error reply ``message``."""
    error: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error

