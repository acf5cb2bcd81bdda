"""Liveness: whether this process can still make progress, and a bound on how long it may take to
end once it has decided to.

``/health`` answers from ``Liveness.problems()``: the event loop is running late (blocked or starved
of CPU: a watchdog task measures how late its own wake-ups are), or a shutdown has outlived its
bound. ``/ready`` is a different question (should this process get work?) answered elsewhere.

Once a shutdown begins (SIGTERM, or a fatal error), a daemon thread waits ``shutdown_timeout_s`` and
then ends the process with ``os._exit``, whatever the event loop is doing: a drain that hangs on
a peer that does not answer, or a loop stuck in a busy retry, cannot keep a process alive that a
supervisor would otherwise never restart. The thread does not depend on the event loop.

Under systemd (``NOTIFY_SOCKET`` set, ``WatchdogSec=`` in the unit) every on-time wake-up of the
watchdog task sends ``WATCHDOG=1``; a blocked loop stops sending, and systemd restarts the unit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

from linguaflow.settings import Settings

log = logging.getLogger("linguaflow.liveness")

EXIT_FATAL = 1


def notify_systemd(message: bytes, address: str | None = None) -> bool:
    """Send ``message`` to systemd's notify socket (``$NOTIFY_SOCKET``), if there is one."""
    address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message, address)
        except OSError:
            return False
    return True


class Liveness:
    def __init__(
        self,
        *,
        shutdown_timeout_s: float,
        max_loop_lag_s: float,
        clock: Callable[[], float] = time.monotonic,
        terminate: Callable[[int], None] = os._exit,
    ) -> None:
        self.shutdown_timeout_s = shutdown_timeout_s
        self.max_loop_lag_s = max_loop_lag_s
        self._clock = clock
        self._terminate = terminate
        self._lock = threading.Lock()
        self._shutdown: tuple[float, str] | None = None  # (when it began, why)
        self._exit_code = 0
        self._deadline_thread: threading.Thread | None = None
        self.loop_lag_s = 0.0  # how late the watchdog's last wake-up was
        self._last_tick: float | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Liveness:
        """The bounds a worker or a sink process runs with."""
        return cls(
            shutdown_timeout_s=settings.shutdown_timeout_s, max_loop_lag_s=settings.health_max_loop_lag_s
        )

    # --- shutdown --------------------------------------------------------------------------------
    def begin_shutdown(self, reason: str, *, exit_code: int = 0) -> None:
        """A shutdown began: the process ends within ``shutdown_timeout_s`` from the first call,
        with ``exit_code`` (the highest any call gave) if it has to be ended by force."""
        with self._lock:
            self._exit_code = max(self._exit_code, exit_code)
            if self._shutdown is not None:
                return
            self._shutdown = (self._clock(), reason)
            self._deadline_thread = threading.Thread(
                target=self._end_when_overdue, name="linguaflow-shutdown-deadline", daemon=True
            )
        log.info("shutting down (%s): the process ends within %.0f s", reason, self.shutdown_timeout_s)
        self._deadline_thread.start()

    def fatal(self, reason: str) -> None:
        """A fatal error: the process must end, non-zero."""
        self.begin_shutdown(reason, exit_code=EXIT_FATAL)

    @property
    def exit_code(self) -> int:
        return self._exit_code

    def shutdown_overdue_s(self) -> float:
        """How far past its bound a running shutdown is (0 if none is, or none runs)."""
        began = self._shutdown
        if began is None:
            return 0.0
        return max(0.0, self._clock() - began[0] - self.shutdown_timeout_s)

    def _end_when_overdue(self) -> None:
        began = self._shutdown
        assert began is not None
        remaining = began[0] + self.shutdown_timeout_s - self._clock()
        if remaining > 0:
            time.sleep(remaining)
        # Still running: end it. The exit code says it did not end by itself.
        code = self._exit_code or EXIT_FATAL
        log.critical(
            "shutdown (%s) still running after %.0f s: ending the process with exit code %d",
            began[1],
            self.shutdown_timeout_s,
            code,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        self._terminate(code)

    # --- the event loop --------------------------------------------------------------------------
    async def watch_loop(self, interval_s: float = 0.5) -> None:
        """Sleep ``interval_s`` again and again and record how late each wake-up is. Under systemd,
        each wake-up that is on time is a watchdog ping."""
        while True:
            asked = self._clock()
            self._last_tick = asked
            await asyncio.sleep(interval_s)
            now = self._clock()
            self.loop_lag_s = max(0.0, now - asked - interval_s)
            self._last_tick = now
            if not self.problems():
                notify_systemd(b"WATCHDOG=1")

    def problems(self) -> list[str]:
        """Why this process cannot make progress; empty when it can (what ``/health`` answers)."""
        found = []
        if self._last_tick is not None:
            late = max(self.loop_lag_s, self._clock() - self._last_tick - 1.0)
            if late > self.max_loop_lag_s:
                found.append(f"event loop {late:.1f} s late (limit {self.max_loop_lag_s:.0f} s)")
        overdue = self.shutdown_overdue_s()
        if overdue > 0:
            found.append(f"shutdown {overdue:.1f} s past its {self.shutdown_timeout_s:.0f} s bound")
        return found


def health_answer(liveness: Liveness) -> tuple[dict[str, object], int]:
    """``/health``'s body and status: 200 while this process can make progress, 503 with why not."""
    problems = liveness.problems()
    return {"status": "failing" if problems else "ok", "problems": problems}, 503 if problems else 200
