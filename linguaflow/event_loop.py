"""The event loop the long-running processes (``worker``, ``sink``) run on: ``uvloop`` by default,
the standard library's loop with ``LINGUAFLOW_EVENT_LOOP=asyncio``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from linguaflow.settings import EventLoop

T = TypeVar("T")


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if choice == "uvloop" else asyncio.new_event_loop


def use_for_faust(choice: EventLoop) -> None:
    """faust (through mode) creates its loop with ``asyncio.get_event_loop()``: set the policy
    before the app is built."""
    policy = uvloop.EventLoopPolicy() if choice == "uvloop" else asyncio.DefaultEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)


def run(main: Coroutine[Any, Any, T], choice: EventLoop) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
