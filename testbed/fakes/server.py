"""A scriptable fake of a translation API: a small aiohttp app on 127.0.0.1 (ephemeral port) in a
background thread, so it serves both in-process adapter tests and worker subprocesses.

Each request gets the next scripted ``Reply`` (then the default one). Replies speak the real API's
format (see ``apis.py``): success, an HTTP error with the API's error body (429 + Retry-After,
DeepL 456, Google 403 quota, 5xx), a hang (until the client times out or ``release``: then 503), a
hold (a success, sent at ``release``), garbage, a truncated
body, the wrong number of translations, or translations that lose a placeholder.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from testbed.fakes.apis import ApiSpec
from testbed.fakes.oauth import FakeOAuth


@dataclass(frozen=True)
class Reply:
    kind: str = "ok"  # ok | status | hang | hold | garbage | truncated | wrong_count | mangle
    status: int = 200
    retry_after: str | None = None
    message: str = "scripted failure"


OK = Reply()
HANG = Reply("hang")
HOLD = Reply("hold")
GARBAGE = Reply("garbage")
TRUNCATED = Reply("truncated")
WRONG_COUNT = Reply("wrong_count")
MANGLE = Reply("mangle")


def status(code: int, message: str = "scripted failure", retry_after: str | None = None) -> Reply:
    return Reply("status", code, retry_after, message)


UNAUTHENTICATED = status(401, "Request had invalid authentication credentials.")


class FakeApi:
    """With ``oauth``, its token endpoint is served too and a request without a token it issued
    (still valid) gets a 401, whatever is scripted."""

    def __init__(
        self,
        spec: ApiSpec,
        default: Reply = OK,
        *,
        oauth: FakeOAuth | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: serve HTTPS with this server context (``url`` is then ``https://``)."""
        self.spec = spec
        self.tls = tls
        self.default = default
        self.oauth = oauth
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []  # JSON bodies, in arrival order
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []  # request paths, in arrival order
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._released: asyncio.Event | None = None  # set: hanging calls answer 503 now
        self._thread: threading.Thread | None = None
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def then(self, *replies: Reply) -> FakeApi:
        with self._lock:
            self.script.extend(replies)
        return self

    def always(self, reply: Reply) -> FakeApi:
        with self._lock:
            self.script.clear()
            self.default = reply
        return self

    def start(self) -> FakeApi:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError(f"fake {self.spec.name} did not start")
        return self

    def release(self) -> None:
        """Hanging calls end now (503, retriable), held ones succeed; later HANG and HOLD replies
        no longer wait."""
        loop, released = self._loop, self._released
        if loop is None or released is None:
            raise RuntimeError(f"fake {self.spec.name} is not running")
        loop.call_soon_threadsafe(released.set)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
        self._thread.join(30)
        self._loop = None

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_post(self.spec.path, self._handle)
        if self.oauth is not None:
            app.router.add_post(self.oauth.path, self.oauth.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.SockSite(self._runner, self._sock, ssl_context=self.tls).start())
        ready.set()
        loop.run_until_complete(self._stopping.wait())
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        refused = self.oauth is not None and not self.oauth.authorized(request.headers)
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.paths.append(request.path)
            scripted = self.script.popleft() if self.script and not refused else self.default
            reply = UNAUTHENTICATED if refused else scripted
        spec = self.spec
        if reply.kind in ("hang", "hold"):
            ends = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._released) if e]
            _, pending = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if reply.kind == "hang" or self._stopping.is_set():
                return web.Response(status=503)
        if reply.kind == "status":
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else None
            payload = spec.error(reply.status, reply.message)
            return web.Response(status=reply.status, body=orjson.dumps(payload), headers=headers)
        if reply.kind == "garbage":
            return web.Response(status=200, text="<html>502 Bad Gateway</html>", content_type="text/html")
        texts = spec.texts(body)
        out = [spec.translate(body, text) for text in texts]
        if reply.kind == "wrong_count":
            out = out[:-1]
        if reply.kind == "mangle":
            out = [spec.mangle(text) for text in out]
        raw = orjson.dumps(spec.success(body, out))
        if reply.kind == "truncated":
            raw = raw[: len(raw) // 2]
        return web.Response(status=200, body=raw, content_type="application/json")
