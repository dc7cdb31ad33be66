"""Every private redis-py internal Argus touches, each behind one named function.

``fastpipe`` reads and writes a redis-py connection's socket itself (see its docstring for
why), which public API does not offer at no cost. What it needs beyond public API is here,
so an upgrade that moves one internal breaks one function, and
``tests/data/test_redis_compat.py`` names it. ``pyproject.toml`` pins ``redis<9``, the
newest major tested (``scripts/compat-matrix.sh`` runs the suite on both bounds).

Kept private, each because the public form costs the fast path (``bench.read_bench``):

* ``streams``: ``conn._reader`` / ``conn._writer``. ``send_packed_command`` wraps each write
  in its own ``asyncio.timeout`` and always awaits ``drain``, and ``read_response`` parses one
  reply per call through redis-py's parser: thousands of calls for a 1,000-symbol round
  that one ``hiredis.Reader`` fed from the socket parses in bulk.
* ``abort``: ``conn._writer.transport.abort()`` from a timer callback, which cannot await
  the public ``disconnect``.
* ``parse_error``: ``redis._parsers.base.BaseParser.parse_error``, redis-py's mapping of an
  error reply to its exception classes (``ResponseError``, ``NoScriptError``, ...), so
  fastpipe raises what the client would; there is no public form.
* ``should_reconnect``: redis-py 7 and later mark a connection to reconnect (a method that
  6.x lacks), which the pool's release honours and a reserved connection must too.
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


def should_reconnect(conn: AbstractConnection) -> bool:
    """Whether redis-py marked ``conn`` to reconnect before its next use (never on 6.x)."""
    marked = getattr(conn, "should_reconnect", None)
    return marked is not None and bool(marked())
