"""A TLS front for the embedded PostgreSQL (whose build has no SSL): it speaks the start of the
Postgres wire protocol (an ``SSLRequest`` answered ``S``, then the TLS handshake) and relays the
decrypted bytes to the real server. A client that does not ask for TLS is refused, so a test
through it proves the client really used TLS and verified the certificate. It runs its own event
loop in a thread, so it keeps serving while a test blocks (e.g. waiting for a worker)."""

from __future__ import annotations

import asyncio
import ssl
import struct
import threading

from testbed.fakes.proxy import pipe

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class PgTlsProxy:
    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self._upstream_port = upstream_port
        self._context = context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0
        self.tls_sessions = 0
        self.refused = 0

    def start(self) -> PgTlsProxy:
        self._thread.start()
        listen = asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(listen, self._loop).result(30)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        server = self._server
        if server is not None:
            # In the proxy's own loop: asyncio servers are not thread-safe (closing one from here
            # raced a connection closing there and crashed in the server's waiter list).
            self._loop.call_soon_threadsafe(server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readexactly(8) != SSL_REQUEST:
                self.refused += 1
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self._context)
            self.tls_sessions += 1
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # a client that gave up (e.g. refused our certificate): its problem to report
        finally:
            writer.close()
