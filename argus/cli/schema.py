"""``argus schema``: export the served schema's SDL, or check that schema.graphql matches it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from argus.cli.common import fail

schema_app = typer.Typer(help="The GraphQL schema file (schema.graphql).", no_args_is_help=True)


@schema_app.command("export")
def schema_export(
    output: Annotated[Path | None, typer.Option(help="File to write; '-' for stdout.")] = None,
) -> None:
    """Write the served schema's SDL to schema.graphql (or OUTPUT)."""
    from argus.graphql.schema import SCHEMA_FILE, sdl

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
    from argus.graphql.schema import SCHEMA_FILE, sdl

    if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text(encoding="utf-8") != sdl():
        raise fail("schema.graphql differs from the served schema; run `argus schema export`")
    typer.echo("schema.graphql is up to date")
