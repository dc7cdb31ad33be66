"""``argus.asgi:app``: the application built from the environment, for multi-worker uvicorn."""

from __future__ import annotations

from argus.app import create_app
from argus.settings import Settings

app = create_app(Settings.from_env())
