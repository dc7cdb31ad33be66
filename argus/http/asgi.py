"""``argus.http.asgi:app``: the application built from the environment, for multi-worker uvicorn."""

from __future__ import annotations

from argus.http.app import create_app, settle_heap
from argus.settings import Settings

settings = Settings.from_env()
app = create_app(settings)
settle_heap(settings)  # as single-worker ``argus serve`` does
