"""The ``argus`` command line: a thin layer over the package, tested through its runner.

Every command has ``--help`` and exits non-zero with a one-line reason on failure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from argus import api_keys
from argus.errors import ArgusError
from argus.settings import Settings
from argus.writer import cli as writer_cli

app = typer.Typer(help="Argus: market intelligence (regime, novelty, correlations) over Redis.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
schema_app = typer.Typer(help="The GraphQL schema file (schema.graphql).", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
# The writer's commands import chDB and numpy only when they run, never at start-up.
app.add_typer(writer_cli.data_app, name="data")
app.add_typer(writer_cli.ttl_app, name="ttl")
app.command("write")(writer_cli.write)
app.command("demo")(writer_cli.demo)
app.add_typer(api_keys.keys_app, name="keys")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    except ArgusError as exc:
        raise fail(exc.message) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the API server (Redis from ARGUS_REDIS_URL)."""
    from argus import server

    settings = load_settings(host=host, port=port)
    if workers > 1:
        server.run(server.config(settings, "argus.asgi:app", workers))
    else:
        from argus.app import create_app, settle_heap

        application = create_app(settings)
        settle_heap(settings)
        server.run(server.config(settings, application))


@schema_app.command("export")
def schema_export(
    output: Annotated[Path | None, typer.Option(help="File to write; '-' for stdout.")] = None,
) -> None:
    """Write the served schema's SDL to schema.graphql (or OUTPUT)."""
    from argus.schema import SCHEMA_FILE, sdl

    text = sdl()
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
        return
    target = output or SCHEMA_FILE
    target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target}")


@schema_app.command("check")
def schema_check() -> None:
    """Exit 1 when schema.graphql differs from the served schema."""
    from argus.schema import SCHEMA_FILE, sdl

    if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text(encoding="utf-8") != sdl():
        raise fail("schema.graphql differs from the served schema; run `argus schema export`")
    typer.echo("schema.graphql is up to date")


def main() -> None:
    app()
