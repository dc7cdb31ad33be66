"""What every ``argus`` command shares: the one-line failure and settings from the environment."""

from __future__ import annotations

import typer

from argus.errors import ArgusError
from argus.settings import Settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    except ArgusError as exc:
        raise fail(exc.message) from exc
