"""Whole-topic reads (``dlq list``, ``cache dump``, ``cache evict``, ``gc``) show a progress bar
on a terminal, up to the records the read started with, and nothing when stderr is not one."""

from __future__ import annotations

import io

import pytest

from linguaflow.kafka import ensure_topics, read_topic
from testbed.services import Stack
from tests.integration.test_pipeline import send_synthetic

pytestmark = pytest.mark.integration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_a_whole_topic_read_shows_progress_on_a_terminal_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_topics(stack.settings)  # no worker here to create them
    await send_synthetic(stack, 40, 0.0, seed=9, run_id="bar")
    topic = stack.settings.requests_topic
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    read = [r async for r in read_topic(stack.settings, topic, progress="reading the requests")]
    assert len(read) == 40
    assert "reading the requests" in terminal.getvalue()
    assert "40/40" in terminal.getvalue()

    piped = io.StringIO()  # not a terminal: no bar
    monkeypatch.setattr("sys.stderr", piped)
    assert len([r async for r in read_topic(stack.settings, topic, progress="reading")]) == 40
    assert piped.getvalue() == ""
