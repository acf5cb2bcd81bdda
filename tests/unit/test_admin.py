"""Who may ``POST /flush``: this host, or a bearer of ``LINGUAFLOW_ADMIN_TOKEN``; and what the
sink's buffer reports (rows, bytes, the oldest row's age)."""

from __future__ import annotations

from linguaflow.admin import admin_allowed, flush_answer
from linguaflow.sinks.batch import SinkBatch


def test_this_host_may_flush_without_a_token() -> None:
    assert admin_allowed("127.0.0.1", None, None)
    assert admin_allowed("::1", None, "t0ken")
    assert not admin_allowed("192.0.2.7", None, None)
    assert not admin_allowed(None, None, None)
    assert not admin_allowed("not an address", None, None)


def test_other_hosts_need_the_token() -> None:
    assert admin_allowed("192.0.2.7", "Bearer t0ken", "t0ken")
    assert admin_allowed("192.0.2.7", "bearer t0ken", "t0ken")
    assert not admin_allowed("192.0.2.7", "Bearer wrong", "t0ken")
    assert not admin_allowed("192.0.2.7", "Basic t0ken", "t0ken")
    assert not admin_allowed("192.0.2.7", "Bearer t0ken", None)  # no token set: this host only


def test_the_answers() -> None:
    assert flush_answer(True, 12) == ({"rows_written": 12}, 200)
    assert flush_answer(True, None)[1] == 404
    body, status = flush_answer(False, None)
    assert status == 403
    assert "ADMIN_TOKEN" in str(body["error"])


def test_the_batch_counts_bytes_and_knows_its_oldest_row() -> None:
    batch = SinkBatch()
    assert (batch.size_bytes, batch.opened_ms) == (0, None)
    batch.append(None, ("t", 0), 0, now_ms=1_000, size=120)
    batch.append(None, ("t", 0), 1, now_ms=1_500, size=80)
    assert (len(batch), batch.size_bytes, batch.opened_ms) == (2, 200, 1_000)
    batch.clear()
    assert (batch.size_bytes, batch.opened_ms) == (0, None)
