"""``argus.asgi:app``: the application built from the environment, for multi-worker uvicorn."""

from __future__ import annotations

import gc

from argus.app import create_app
from argus.settings import Settings

app = create_app(Settings.from_env())
# As in single-worker ``argus serve``: keep the start-up heap out of full collections.
gc.collect()
gc.freeze()
