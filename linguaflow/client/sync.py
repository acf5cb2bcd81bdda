"""``SyncTranslationClient``: the same client for code that is not async (scripts, Django, CMS jobs).

It runs a ``TranslationClient`` on an event loop in one background thread and blocks the calling
thread on each call. It may be shared by several threads; the calls interleave on that one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from opentelemetry import trace

from linguaflow.client.aio import TranslationClient
from linguaflow.errors import InfraError
from linguaflow.settings import ClientSettings

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[TranslationClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SyncTranslationClient, P], R]:
    """The blocking twin of a ``TranslationClient`` method: same arguments, same result."""

    def call(self: SyncTranslationClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._wait(self._submit(method(self._async, *args, **kwargs)))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class SyncTranslationClient:
    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        default_timeout_s: float = 30.0,
        linger_ms: int = 5,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        """The arguments mean what they mean for ``TranslationClient``; nothing starts yet. A call
        runs in the calling thread's context (``contextvars``): its current span is the parent of
        the publish span."""
        self._settings = settings or ClientSettings()
        self._tracer_provider = tracer_provider
        self._default_timeout_s = default_timeout_s
        self._linger_ms = linger_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: TranslationClient | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="linguaflow-client", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            # Built on the loop's thread: aiokafka binds to the running loop.
            self._client = self._wait(self._submit(self._create()))
        except BaseException:
            self._shutdown_loop()
            raise

    async def _create(self) -> TranslationClient:
        client = TranslationClient(
            self._settings,
            default_timeout_s=self._default_timeout_s,
            linger_ms=self._linger_ms,
            tracer_provider=self._tracer_provider,
        )
        await client.start()
        return client

    def stop(self) -> None:
        if self._client is not None:
            try:
                self._wait(self._submit(self._client.stop()))
            finally:
                self._client = None
                self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _async(self) -> TranslationClient:
        if self._client is None:
            raise InfraError("the client is not started: use `with SyncTranslationClient(...)`")
        return self._client

    def _submit(self, coro: Coroutine[Any, Any, R]) -> Future[R]:
        if self._loop is None:
            coro.close()
            raise InfraError("the client is not started: use `with SyncTranslationClient(...)`")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @staticmethod
    def _wait(future: Future[R]) -> R:
        # No timeout here: every call has its own (``timeout_s``) inside the loop.
        return future.result()

    publish = _blocking(TranslationClient.publish)
    publish_many = _blocking(TranslationClient.publish_many)
    translate = _blocking(TranslationClient.translate)
    translate_many = _blocking(TranslationClient.translate_many)
    translate_each = _blocking(TranslationClient.translate_each)
