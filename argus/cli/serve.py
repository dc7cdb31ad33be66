"""``argus serve``: the API server under uvicorn, one process or several workers."""

from __future__ import annotations

from typing import Annotated

import typer

from argus.cli.common import load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the API server (Redis from ARGUS_REDIS_URL)."""
    from argus.http import server

    settings = load_settings(host=host, port=port)
    if workers > 1:
        server.run(server.config(settings, "argus.http.asgi:app", workers))
    else:
        from argus.http.app import create_app, settle_heap

        application = create_app(settings)
        settle_heap(settings)
        server.run(server.config(settings, application))
