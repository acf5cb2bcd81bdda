"""Synthetic request generation, Settings and the JSON log formatter."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from linguaflow.logs import JsonFormatter, logging_config
from linguaflow.schemas.request import request_from_dict
from linguaflow.settings import Settings
from linguaflow.synthetic import synthetic_requests, unique_count

NOW = 1_700_000_000_000

# --- synthetic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "ratio", "expected"),
    [(0, 0.5, 0), (1, 0.9, 1), (10, 0.0, 10), (10, 0.3, 7), (10, 0.99, 1), (1_000, 0.25, 750)],
)
def test_unique_count(count: int, ratio: float, expected: int) -> None:
    assert unique_count(count, ratio) == expected


@pytest.mark.parametrize("ratio", [1.0, 1.5, -0.1])
def test_unique_count_rejects_ratios_outside_0_1(ratio: float) -> None:
    with pytest.raises(ValueError, match="dup_ratio"):
        unique_count(10, ratio)


@given(count=st.integers(0, 300), ratio=st.floats(0, 0.99), seed=st.integers(0, 2**32))
def test_synthetic_stream_shape(count: int, ratio: float, seed: int) -> None:
    items = list(synthetic_requests(count, ratio, seed=seed, now_ms=NOW))
    assert len(items) == count
    texts = [i["text"] for i in items]
    assert len(set(texts)) == unique_count(count, ratio)
    assert len({i["request_id"] for i in items}) == count
    # new texts are issued in creation order ("<Word> <n>: ..."), the first item being text 0
    firsts = list(dict.fromkeys(texts))
    assert [int(re.match(r"\w+ (\d+):", t).group(1)) for t in firsts] == list(range(len(firsts)))  # type: ignore[union-attr]
    if count:
        assert texts[0] == firsts[0]
    assert all(i["created_at"] == NOW for i in items)


@given(seed=st.integers(0, 2**32))
def test_synthetic_is_deterministic_per_seed(seed: int) -> None:
    first = list(synthetic_requests(50, 0.5, seed=seed, now_ms=NOW))
    again = list(synthetic_requests(50, 0.5, seed=seed, now_ms=NOW))
    assert first == again


def test_different_seeds_give_different_streams() -> None:
    a = [i["text"] for i in synthetic_requests(50, 0.5, seed=1, now_ms=NOW)]
    b = [i["text"] for i in synthetic_requests(50, 0.5, seed=2, now_ms=NOW)]
    assert a != b


def test_synthetic_requests_are_valid_requests() -> None:
    items = list(synthetic_requests(20, 0.5, seed=7, now_ms=NOW, target_lang="fr", run_id="run"))
    assert items[0]["request_id"] == "run-7-0"
    for item in items:
        request = request_from_dict(item, max_text_chars=50_000, now_ms=0)
        assert request.target_lang == "fr"
        assert request.source_lang == "en"
        assert request.created_at == NOW


def test_duplicates_follow_their_first_occurrence() -> None:
    texts = [i["text"] for i in synthetic_requests(200, 0.8, seed=3, now_ms=NOW)]
    seen: set[str] = set()
    repeats = 0
    for text in texts:
        repeats += text in seen
        seen.add(text)
    assert repeats == 200 - unique_count(200, 0.8) == 160


# --- settings ------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Settings read the process environment: start every test from none of ours."""
    for name in list(os.environ):
        if name.startswith("LINGUAFLOW_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.partitions == 4
    assert s.provider == "pseudo"
    assert s.database_url is None
    assert s.kafka_url == "kafka://127.0.0.1:9092"
    assert s.pg_data_dir == s.local_dir / "postgres"


def test_settings_are_frozen(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.partitions = 8  # type: ignore[misc]
    assert s.partitions == 4


def test_env_overrides(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LINGUAFLOW_PARTITIONS", "8")
    clean_env.setenv("LINGUAFLOW_LOG_LEVEL", "DEBUG")
    clean_env.setenv("LINGUAFLOW_CACHE_TOPIC_CONFIG", '{"segment.ms": "100"}')
    s = Settings()
    assert s.partitions == 8
    assert s.log_level == "DEBUG"
    assert s.cache_topic_config == {"segment.ms": "100"}


@pytest.mark.parametrize(
    ("name", "value"), [("LINGUAFLOW_PARTITIONS", "0"), ("LINGUAFLOW_LOG_LEVEL", "LOUD")]
)
def test_invalid_env_values_are_rejected(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("var", ["DATABASE_URL", "LINGUAFLOW_DATABASE_URL"])
def test_database_url_is_a_secret(clean_env: pytest.MonkeyPatch, var: str) -> None:
    url = "postgresql://app:hunter2@db.internal:5432/linguaflow"
    clean_env.setenv(var, url)
    s = Settings()
    assert isinstance(s.database_url, SecretStr)
    assert s.database_url.get_secret_value() == url
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    safe = s.safe_dict()
    assert safe["database_url"] == "**********"
    dumped = orjson.dumps(safe).decode()
    assert "hunter2" not in dumped
    assert "db.internal" not in dumped


def test_safe_dict_is_json_ready(clean_env: pytest.MonkeyPatch) -> None:
    safe = Settings().safe_dict()
    assert orjson.loads(orjson.dumps(safe)) == safe
    assert isinstance(safe["local_dir"], str)
    assert safe["database_url"] is None


@pytest.mark.parametrize(
    ("bootstrap", "url"),
    [
        ("a:1,b:2", "kafka://a:1;kafka://b:2"),
        ("a:1, b:2 ,c:3", "kafka://a:1;kafka://b:2;kafka://c:3"),
        ("localhost:9092", "kafka://localhost:9092"),
    ],
)
def test_kafka_url(clean_env: pytest.MonkeyPatch, bootstrap: str, url: str) -> None:
    clean_env.setenv("LINGUAFLOW_KAFKA_BOOTSTRAP", bootstrap)
    assert Settings().kafka_url == url


# --- logs ----------------------------------------------------------------------------------------


def format_one(record: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(record)
    assert "\n" not in line
    doc: dict[str, Any] = orjson.loads(line)
    return doc


def make_record(msg: str, *args: Any, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    record = logging.getLogger("linguaflow.test").makeRecord(
        "linguaflow.test", level, __file__, 1, msg, args, None, extra=extra
    )
    record.created = 1_700_000_000.123
    return record


def test_json_line_has_level_logger_msg_and_time() -> None:
    doc = format_one(make_record("sent %d of %s", 3, "batch"))
    assert doc == {
        "ts": "2023-11-14T22:13:20.123+00:00",
        "level": "INFO",
        "logger": "linguaflow.test",
        "msg": "sent 3 of batch",
    }


def test_extra_fields_are_included_and_unserialisable_ones_stringified() -> None:
    doc = format_one(
        make_record("flushed", level=logging.WARNING, rows=12, partition="p-1", where=Path("/tmp/x"))
    )
    assert doc["level"] == "WARNING"
    assert doc["rows"] == 12
    assert doc["partition"] == "p-1"
    assert doc["where"] == "/tmp/x"
    assert "args" not in doc
    assert "levelno" not in doc


def test_exceptions_are_formatted_into_one_line() -> None:
    try:
        raise ValueError("kaput")
    except ValueError:
        record = make_record("failed")
        record.exc_info = sys.exc_info()
    doc = format_one(record)
    assert "ValueError: kaput" in doc["exc"]
    assert "Traceback" in doc["exc"]


@contextmanager
def json_lines(name: str) -> Iterator[tuple[logging.Logger, list[dict[str, Any]]]]:
    """A logger at INFO writing through JsonFormatter; the list fills with the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    docs: list[dict[str, Any]] = []
    try:
        yield log, docs
    finally:
        log.removeHandler(handler)
        docs += [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_formatter_through_a_real_logger() -> None:
    with json_lines("linguaflow.unit.json") as (log, docs):
        log.info("hello %s", "world", extra={"request_id": "r-1"})
        log.debug("not shown")
    [doc] = docs
    assert (doc["msg"], doc["level"], doc["logger"], doc["request_id"]) == (
        "hello world",
        "INFO",
        "linguaflow.unit.json",
        "r-1",
    )


def test_logging_config_uses_the_json_formatter() -> None:
    config = logging_config("DEBUG")
    assert config["root"]["level"] == "DEBUG"
    assert config["formatters"]["json"]["()"] == "linguaflow.logs.JsonFormatter"
    assert config["loggers"]["aiokafka"]["level"] == "WARNING"
