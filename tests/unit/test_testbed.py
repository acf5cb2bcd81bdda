"""The test bed itself: reading a stack's settings from several threads at once (the fault tests
probe /ready from threads) never leaves the stack's variables in the process's environment."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from testbed.services import Broker, Stack


def test_stack_settings_read_from_threads_leave_the_environment_as_it_was(tmp_path: Path) -> None:
    before = dict(os.environ)
    stack = Stack(Broker("127.0.0.1:1", None), "postgresql://unused", tmp_path)
    stack.env = {**before, "LINGUAFLOW_WEB_PORT": "42523", "LINGUAFLOW_APP_ID": "leak-probe"}

    def read() -> None:
        for _ in range(200):
            assert stack.settings.web_port == 42523

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dict(os.environ) == before
