"""Single-flight bookkeeping: at most one provider call per cache key in flight; later requests
for the same key wait on the first one. Pure and synchronous, so the asyncio code that drives it
cannot interleave between "is it in flight?" and "mark it in flight"."""

from __future__ import annotations

from typing import Generic, TypeVar

W = TypeVar("W")


class InFlight(Generic[W]):
    def __init__(self) -> None:
        self._waiters: dict[str, list[W]] = {}

    def __len__(self) -> int:
        return len(self._waiters)

    def __contains__(self, key: object) -> bool:
        return key in self._waiters

    def join(self, key: str, waiter: W) -> bool:
        """Register a waiter; True when it is the first (the caller must start the call)."""
        waiters = self._waiters.get(key)
        if waiters is None:
            self._waiters[key] = [waiter]
            return True
        waiters.append(waiter)
        return False

    def first(self, key: str) -> W | None:
        """The waiter that started the call for ``key`` (None when nothing is in flight)."""
        waiters = self._waiters.get(key)
        return waiters[0] if waiters else None

    def complete(self, key: str) -> list[W]:
        """The call for ``key`` finished: hand back everyone who waited, first one first."""
        return self._waiters.pop(key, [])

    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())
