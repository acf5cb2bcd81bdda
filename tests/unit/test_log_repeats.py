"""RepeatFilter: a library's message repeated every 100 ms during an outage is logged once per
window with the count of what was dropped; our own loggers are never filtered."""

from __future__ import annotations

import logging
import logging.config

from linguaflow.logs import RepeatFilter, logging_config


def record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_a_library_message_repeated_within_the_window_is_dropped_and_counted() -> None:
    now = [0.0]
    repeats = RepeatFilter(window_s=10, clock=lambda: now[0])
    lookup = "Group Coordinator Request failed: %s"
    kept = []
    for tick in range(100):  # 10 s of a failed lookup every 100 ms, with varying errors
        now[0] = tick / 10
        r = record("aiokafka.consumer.group_coordinator", lookup, f"error {tick}")
        if repeats.filter(r):
            kept.append(r)
    now[0] = 10.0
    last = record("aiokafka.consumer.group_coordinator", lookup, "error 100")
    assert repeats.filter(last)
    assert len(kept) == 1
    assert last.repeated == 99  # type: ignore[attr-defined]


def test_other_messages_and_our_own_loggers_are_not_filtered() -> None:
    repeats = RepeatFilter(window_s=10, clock=lambda: 0.0)
    assert repeats.filter(record("aiokafka.client", "a %s", 1))
    assert repeats.filter(record("aiokafka.client", "b %s", 1))  # another message
    for _ in range(5):
        assert repeats.filter(record("linguaflow.sink", "sink write failed %s", 1))


def test_the_worker_logging_config_installs_the_filter() -> None:
    config = logging_config("INFO")
    assert config["handlers"]["stderr"]["filters"] == ["repeats"]
    root, handlers, level = logging.getLogger(), logging.getLogger().handlers[:], logging.getLogger().level
    try:
        logging.config.dictConfig(config)  # it loads
        assert any(isinstance(f, RepeatFilter) for h in root.handlers for f in h.filters)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
