"""A forward proxy on 127.0.0.1 for the proxy tests: it tunnels ``CONNECT host:port`` (what a
client sends ``HTTPS_PROXY`` for an ``https://`` URL) and records each tunnel's target and its
``Proxy-Authorization`` header. Anything else gets a 405."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from contextlib import suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class Tunnel:
    target: str  # host:port
    authorization: str | None  # the Proxy-Authorization header, as sent


class ConnectProxy:
    def __init__(self) -> None:
        self.tunnels: list[Tunnel] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def url(self, credentials: str | None = None) -> str:
        """The proxy's URL for ``HTTPS_PROXY`` (``credentials``: ``user:password``)."""
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        server = loop.run_until_complete(asyncio.start_server(self._client, sock=self._sock))
        ready.set()
        loop.run_until_complete(self._stopping.wait())
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            self.tunnels.append(Tunnel(target, headers.get("proxy-authorization")))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        except (OSError, ValueError):
            return
        finally:
            with suppress(OSError):
                writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either side ends (a tunnel's one direction)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with suppress(OSError, ssl.SSLError):
            writer.close()
