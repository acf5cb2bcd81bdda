"""The worker's and sink's event loop: uvloop by default, the standard library's on request."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from linguaflow import event_loop
from linguaflow.settings import EventLoop, Settings

LOOPS = [("uvloop", uvloop.Loop), ("asyncio", asyncio.SelectorEventLoop)]


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_is_the_default() -> None:
    assert Settings().event_loop == "uvloop"


@pytest.mark.parametrize(("choice", "expected"), LOOPS)
def test_run_uses_the_chosen_loop(choice: EventLoop, expected: type) -> None:
    loop_type = event_loop.run(_loop_type(), choice)
    assert issubclass(loop_type, expected)
    assert issubclass(loop_type, uvloop.Loop) == (choice == "uvloop")


@pytest.mark.parametrize(("choice", "expected"), LOOPS)
def test_faust_gets_the_chosen_loop_through_the_policy(choice: EventLoop, expected: type) -> None:
    before = asyncio.get_event_loop_policy()
    try:
        event_loop.use_for_faust(choice)
        loop = asyncio.new_event_loop()  # what mode's get_event_loop() creates in a fresh process
        try:
            assert isinstance(loop, expected)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(before)


def test_an_unknown_loop_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="event_loop"):
        Settings(event_loop="trio")  # type: ignore[arg-type]
