"""The ``argus`` command line: a thin layer over the package, tested through its runner.

Every command has ``--help`` and exits non-zero with a one-line reason on failure. Each
command group has its module (``serve``, ``schema``, ``demo``, ``keys``; the writer's
``data``, ``ttl`` and ``write`` in ``writer``); this one assembles them.
"""

from __future__ import annotations

import typer

from argus.cli import writer as writer_cli
from argus.cli.keys import keys_app
from argus.cli.schema import schema_app
from argus.cli.serve import serve

app = typer.Typer(help="Argus: market intelligence (regime, novelty, correlations) over Redis.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(schema_app, name="schema")
# The writer's commands import chDB and numpy only when they run, never at start-up.
app.add_typer(writer_cli.data_app, name="data")
app.add_typer(writer_cli.ttl_app, name="ttl")
app.command("write")(writer_cli.write)
app.command("demo")(writer_cli.demo)
app.add_typer(keys_app, name="keys")
app.command()(serve)


def main() -> None:
    app()
