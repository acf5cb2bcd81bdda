"""Telemetry behind one small interface. OpenTelemetry metrics underneath; business code only
calls ``count``. A local mirror of the counters feeds the worker's ``/stats`` endpoint and tests."""

from __future__ import annotations

from collections import Counter

from opentelemetry.metrics import Meter, get_meter


class Telemetry:
    def __init__(self, meter: Meter | None = None) -> None:
        self._meter = meter or get_meter("linguaflow")
        self._counters: dict[str, object] = {}
        self._totals: Counter[str] = Counter()

    def count(self, name: str, n: int = 1, **attributes: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self._meter.create_counter(f"linguaflow.{name}")
        counter.add(n, attributes)  # type: ignore[attr-defined]
        self._totals[name] += n
        for key, value in attributes.items():
            self._totals[f"{name}.{key}.{value}"] += n

    def snapshot(self) -> dict[str, int]:
        return dict(self._totals)
