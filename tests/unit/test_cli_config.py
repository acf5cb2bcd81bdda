"""The command line on configuration: a bad environment value is one line naming the variable
(never a traceback, never a secret's value), ``linguaflow config`` shows every effective setting,
secrets masked, with where it came from, and ``--log-level`` sets the level for what it starts."""

from __future__ import annotations

import os

import orjson
import pytest

from linguaflow.cli import main

Capture = pytest.CaptureFixture[str]
Env = pytest.MonkeyPatch


def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("LINGUAFLOW_PARTITIONS", "twelve")
    assert main(["config"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("linguaflow: LINGUAFLOW_PARTITIONS='twelve': Input should be a valid integer")


def test_config_shows_values_sources_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("LINGUAFLOW_DEEPL_API_KEY", "deepl-s3cret:fx")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-s3cret@db/x")
    monkeypatch.setenv("LINGUAFLOW_PARTITIONS", "12")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    rows = {row.pop("variable"): row for row in orjson.loads(out)}
    assert rows["LINGUAFLOW_DEEPL_API_KEY"] == {"value": "***", "source": "env"}
    assert rows["DATABASE_URL"] == {"value": "***", "source": "env"}
    assert rows["LINGUAFLOW_PARTITIONS"] == {"value": 12, "source": "env"}
    assert rows["LINGUAFLOW_CACHE_STORE"] == {"value": "disk", "source": "default"}
    assert main(["config"]) == 0
    table = capsys.readouterr().out
    assert "LINGUAFLOW_PARTITIONS" in table
    assert "s3cret" not in table


def test_log_level_is_set_for_the_processes_a_command_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("LINGUAFLOW_LOG_LEVEL", "INFO")  # restored after the test
    assert main(["--log-level", "DEBUG", "config", "--json"]) == 0
    rows = {row["variable"]: row for row in orjson.loads(capsys.readouterr().out)}
    assert rows["LINGUAFLOW_LOG_LEVEL"]["value"] == "DEBUG"
    assert os.environ["LINGUAFLOW_LOG_LEVEL"] == "DEBUG"
