"""The one executor of a validated document: the compiled shape when it has one, else graphql-core.

An ``Engine`` owns what execution remembers: the parse cache (parsed documents are reused,
so everything keyed by a document's identity downstream stays valid while it is cached)
and a ``compiled.Compiler`` with its shape cache. Nothing is process-global: two engines
(two apps, two schemas) share no entry. ``policy`` parses through ``Engine.parse``, the
HTTP view executes through ``Engine.execute``; nothing else calls ``compiled``. A
subscription (``Engine.subscribe``) creates its source stream with graphql-core and runs
each event as an execution of its own, compiled for a hot shape (``compiled.EventShape``)
else graphql-core's, with the context its caller gives for the event (fresh loaders: an
event's ``symbol { regime }`` reads Redis now, not what an earlier event loaded).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from inspect import isawaitable
from typing import Any, TypeVar, cast

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    GraphQLError,
    GraphQLSchema,
    create_source_event_stream,
    execute,
    parse,
)

from argus.data.bounded_cache import BoundedCache, document_bytes, memoize
from argus.errors import ArgusError
from argus.graphql.compiled import Compiler, EventRenderer, compile_event_shape
from argus.graphql.types import RegimeChange

#: The parser's own bound when a caller gives none.
MAX_TOKENS = 50_000

_Encoded = TypeVar("_Encoded")


def refused_for_tokens(error: GraphQLError, max_tokens: int) -> bool:
    """Whether ``parse(..., max_tokens=max_tokens)`` failed because the document is longer
    than the bound, not because it is malformed. graphql-core raises a plain
    ``GraphQLSyntaxError`` for both and names the bound only in the message ("Document
    contains more than {n} tokens. Parsing aborted."), so the message is all there is to
    read; ``tests/graphql/test_engine.py`` holds a canary on it."""
    return f"more than {max_tokens} tokens" in error.message


class Engine:
    """Parses with a cache, then executes (validation is the tier policy's, before)."""

    def __init__(self, schema: GraphQLSchema, *, cache_size: int = 1024,
                 cache_bytes: int = 32 * 1_048_576, max_tokens: int = MAX_TOKENS) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        # Keyed by (query, max_tokens): a document refused at one tier's bound may parse
        # at a larger tier's, and the parser stops at the bound it was given.
        self.parse = memoize(self._parse, BoundedCache(cache_bytes, cache_size,
                                                       admit_on_reuse=True),
                             document_bytes, lambda parsed: isinstance(parsed, GraphQLError))
        #: Compiled shapes by document; its own bound, as before the engine held it.
        self.compiler = Compiler(schema, cache_size)
        #: Subscription events through the compiled path when their shape allows (tests
        #: switch it off to compare with graphql-core).
        self.compile_events = True

    def _parse(self, query: str, max_tokens: int | None = None) -> DocumentNode | GraphQLError:
        try:
            return parse(query, no_location=False, max_tokens=max_tokens or self.max_tokens)
        except GraphQLError as error:
            return error.with_traceback(None)  # its frames hold every token read (~28 MB)

    async def execute(self, document: DocumentNode, context: Any,
                      variables: dict[str, Any] | None, operation_name: str | None, *,
                      hide_suggestions: bool = False) -> ExecutionResult:
        """The result of a parsed and validated document: compiled for a hot shape (the same
        bytes), else graphql-core over the schema."""
        compiled = await self.compiler.execute(document, context, variables, operation_name)
        if compiled is not None:
            return compiled
        return await self.execute_graphql_core(document, context, variables, operation_name,
                                               hide_suggestions=hide_suggestions)

    async def execute_graphql_core(self, document: DocumentNode, context: Any,
                                   variables: dict[str, Any] | None, operation_name: str | None,
                                   *, hide_suggestions: bool = False) -> ExecutionResult:
        result = execute(self.schema, document, context_value=context,
                         variable_values=variables, operation_name=operation_name,
                         hide_suggestions=hide_suggestions)
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return result

    async def subscribe(self, document: DocumentNode, context: Any,
                        variables: dict[str, Any] | None, operation_name: str | None, *,
                        event_context: Callable[[Any], Any],
                        encode: Callable[[ExecutionResult], _Encoded],
                        shared: Callable[[Any], dict[Any, Any] | None] | None = None,
                        hide_suggestions: bool = False,
                        ) -> ExecutionResult | AsyncIterator[list[_Encoded]]:
        """A subscription operation: an ``ExecutionResult`` with the errors when its source
        stream cannot be created (bad input, Redis down), else the stream of results, one
        per event, each executed with ``event_context(payload)`` (the payload: the root
        value the source stream gave) and given as ``encode(result)``, in lists: every
        result finished at once (a burst's, up to ``LOOKAHEAD``), so that a transport can
        write them together. A failure of the source stream after it began, or of
        ``encode``, ends the stream with one last result carrying the error (masked unless
        an ``ArgusError``), after the results before it.

        ``shared(payload)``: a scratch space that every subscription given the same payload
        sees; the same document with the same variables then executes once per payload
        for all of them (no resolver reads the caller: the tier was applied at admission),
        and is encoded once: a hundred subscribers of one change get the same bytes.
        """
        executor = Executor.build(self.schema, document, context_value=context,
                                  raw_variable_values=variables, operation_name=operation_name,
                                  hide_suggestions=hide_suggestions)
        if isinstance(executor, list):
            return ExecutionResult(None, errors=executor)
        stream = create_source_event_stream(executor)
        if isawaitable(stream):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            return stream
        # Compiled per subscription, not cached: once per subscribe costs well under a
        # millisecond, and the shape then lives exactly as long as the subscription does.
        shape = compile_event_shape(document, operation_name) if self.compile_events else None
        renderer = shape.bind(self.schema, executor.variable_values) if shape is not None else None
        return _results(_Events(executor, event_context, renderer, encode), stream, shared,
                        _share_key(document, variables, operation_name, hide_suggestions,
                                   encode))


def _share_key(document: DocumentNode, variables: dict[str, Any] | None,
               operation_name: str | None, hide: bool,
               encode: Callable[[ExecutionResult], Any]) -> tuple[Any, ...] | None:
    try:
        packed = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
    except TypeError:
        return None
    return ("argus.engine", id(document), packed, operation_name, hide, encode)


class _Events:
    """How one subscription executes an event and encodes its result: compiled
    (``compiled.EventRenderer``) when its shape allows, else graphql-core; as a future,
    already done when nothing awaited (the event's own fields), so that the common case
    costs no task. A failure to encode is the future's (so the stream's last result)."""

    def __init__(self, executor: Executor[Any], event_context: Callable[[Any], Any],
                 renderer: EventRenderer | None,
                 encode: Callable[[ExecutionResult], Any]) -> None:
        self.executor = executor
        self.operation = executor.operation
        self.event_context = event_context
        self.renderer = renderer
        self.encode = encode

    def execute(self, payload: Any) -> asyncio.Future[Any]:
        renderer = self.renderer
        if renderer is not None and isinstance(payload, RegimeChange):
            if renderer.symbol_key is None:
                return _done(self.encode, renderer.now(payload))
            return asyncio.ensure_future(self._compiled(renderer, payload))
        result = self._core(payload, self.event_context(payload))
        if isawaitable(result):
            return asyncio.ensure_future(self._later(result))
        return _done(self.encode, result)

    async def _later(self, result: Awaitable[ExecutionResult]) -> Any:
        return self.encode(await result)

    def _core(self, payload: Any, context: Any) -> ExecutionResult | Awaitable[ExecutionResult]:
        event = self.executor.build_per_event_executor(payload)
        event.context_value = context
        # Without incremental delivery (no @defer/@stream) the result is an ExecutionResult.
        return cast("ExecutionResult | Awaitable[ExecutionResult]", event.execute_operation(False))

    async def _compiled(self, renderer: EventRenderer, payload: RegimeChange) -> Any:
        context = self.event_context(payload)
        try:
            result = await renderer.later(payload, context)
        except Exception:  # graphql-core reports it, located as always
            core = self._core(payload, context)
            result = await core if isawaitable(core) else core
        return self.encode(result)


def _done(encode: Callable[[ExecutionResult], Any], result: ExecutionResult) -> asyncio.Future[Any]:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    try:
        done.set_result(encode(result))
    except Exception as exc:
        done.set_exception(exc)
    return done


#: Events of one subscription executed at once: a burst's executions overlap, so their
#: loads batch together; results are still delivered in the stream's order.
LOOKAHEAD = 64


def _start(events: _Events, payload: Any,
           shared: Callable[[Any], dict[Any, Any] | None] | None,
           key: tuple[Any, ...] | None) -> tuple[asyncio.Future[Any], bool]:
    """The execution of one event, and whether it is this subscription's own (else it is
    shared with the other subscribers of the event, and never cancelled by this one)."""
    scratch = shared(payload) if shared is not None and key is not None else None
    if scratch is None:
        return events.execute(payload), True
    found = scratch.get(key)
    if found is None or found[0] is not events.operation:
        # The operation is kept beside its result: the document's id is in the key.
        found = scratch[key] = (events.operation, events.execute(payload))
    return found[1], False


def _take_ready(pending: deque[tuple[asyncio.Future[Any], bool]], ready: Callable[[], Any],
                start: Callable[[Any], tuple[asyncio.Future[Any], bool]], *,
                while_done: bool = False) -> Exception | None:
    """Start the events the source already holds (``ready()``) until it holds none or
    ``LOOKAHEAD`` are pending (with ``while_done``, only while the last one started has
    finished at once); the source's failure, if it failed."""
    while len(pending) < LOOKAHEAD and not (while_done and not pending[-1][0].done()):
        try:
            queued = ready()
        except Exception as exc:
            return exc
        if queued is None:
            return None
        pending.append(start(queued))
    return None


def _finished(pending: deque[tuple[asyncio.Future[Any], bool]]) -> tuple[list[Any], Exception | None]:
    """The results of the done executions at the head of ``pending``, in order, taken off it,
    and the failure that stopped them if one did (its execution is taken off too)."""
    batch: list[Any] = []
    while pending and pending[0][0].done():
        future = pending.popleft()[0]
        try:
            batch.append(future.result())
        except Exception as exc:
            return batch, exc
    return batch, None


async def _results(events: _Events, stream: Any,
                   shared: Callable[[Any], dict[Any, Any] | None] | None,
                   key: tuple[Any, ...] | None) -> AsyncIterator[list[Any]]:
    """Each event's encoded result, in order, in lists of those finished together. While an
    execution awaits (Redis), the next events are taken and started too, up to
    ``LOOKAHEAD``; otherwise one at a time, no task. A source with ``ready()``
    (``resolvers.RegimeChanges``) hands over what it already holds at once: a burst's
    executions start together, without a task and a wake-up each, and finish together."""
    pending: deque[tuple[asyncio.Future[Any], bool]] = deque()
    source = stream.__aiter__()
    ready: Callable[[], Any] | None = getattr(source, "ready", None)
    fetch: asyncio.Future[Any] | None = None
    failure: Exception | None = None

    def start(payload: Any) -> tuple[asyncio.Future[Any], bool]:
        return _start(events, payload, shared, key)

    try:
        try:
            while True:
                if pending:
                    if fetch is None and ready is not None:
                        failure = _take_ready(pending, ready, start)
                    if failure is not None:  # the source failed: deliver what came before
                        break
                    if fetch is None and len(pending) < LOOKAHEAD:
                        fetch = asyncio.ensure_future(source.__anext__())
                    waiting = [f for f in (pending[0][0], fetch) if f is not None]
                    if not any(f.done() for f in waiting):
                        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    batch, failed = _finished(pending)
                    if batch:
                        yield batch
                    if failed is not None:
                        raise failed
                    if fetch is None or not fetch.done():
                        continue
                    next_payload, fetch = fetch, None
                    payload_of: Any = next_payload.result
                else:
                    payload_of = None
                try:
                    if payload_of is not None:
                        payload = payload_of()
                    elif fetch is not None:
                        payload, fetch = await fetch, None
                    else:
                        payload = await source.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # the source failed: deliver what came before
                    failure = exc
                    break
                pending.append(start(payload))
                if len(pending) == 1 and pending[0][0].done():
                    # Finished at once (the event's own fields): so may the events queued
                    # behind it, taken while each does, and delivered with it.
                    if ready is not None:
                        failure = _take_ready(pending, ready, start, while_done=True)
                    batch, failed = _finished(pending)
                    if batch:
                        yield batch
                    if failed is not None:
                        raise failed
                    if failure is not None:
                        break
            while pending:
                # asyncio.wait cancels nothing it waits on: one subscriber leaving must not
                # cancel what others await.
                await asyncio.wait([pending[0][0]])
                batch, failed = _finished(pending)
                if batch:
                    yield batch
                if failed is not None:
                    raise failed
            if failure is not None:
                raise failure
        except Exception as exc:
            # An ArgusError shows; anything else is masked and logged where the error is
            # formatted (``http.render.format_error``).
            message = exc.message if isinstance(exc, ArgusError) else "Internal server error."
            yield [events.encode(ExecutionResult(None, errors=[GraphQLError(message,
                                                                            original_error=exc)]))]
    finally:
        for future, own in pending:
            if own:
                future.cancel()
        if fetch is not None:
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
