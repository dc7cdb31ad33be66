"""The per-request context: who is calling, and a fresh set of loaders.

Nothing request-scoped lives at module level; the app builds one ``Context`` per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field

from argus.data.events import EventFeed
from argus.data.loaders import IntelligenceBySymbolLoader
from argus.data.store import Store
from argus.policy.auth import Caller
from argus.settings import Settings
from argus.symbols import Normalizer


@dataclass(slots=True)
class Context:
    settings: Settings
    store: Store
    normalizer: Normalizer
    intelligence: IntelligenceBySymbolLoader = field(init=False)
    #: Who is calling (tier and budget identity); ``None`` outside an HTTP request.
    caller: Caller | None = None
    clock: Callable[[], float] = time.time
    #: The app's events feed (``Subscription.regimeChanges``); ``None`` outside an app.
    events: EventFeed | None = None
    #: A loader to use instead of a fresh one (what the executions of one event share).
    loader: InitVar[IntelligenceBySymbolLoader | None] = None

    def __post_init__(self, loader: IntelligenceBySymbolLoader | None) -> None:
        self.intelligence = (loader if loader is not None
                             else IntelligenceBySymbolLoader(self.store, self.settings, self.clock))
