"""``linguaflow replay`` on the real broker and Postgres: rebuild, retranslate, warm."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from linguaflow.cache_view import load_cache_view
from linguaflow.kafka import ensure_topics, read_topic
from linguaflow.produce import publish
from linguaflow.replay import run as replay_run
from linguaflow.replay.rebuild import RebuildPostgres
from linguaflow.replay.run import ReplayOptions, run_replay
from linguaflow.synthetic import synthetic_requests, unique_count
from testbed.services import Stack
from tests.integration.runs import (
    ROWS_FOR,
    cli_json,
    committed_offsets,
    run_synthetic,
    snapshot,
    use_fresh_database,
)

pytestmark = pytest.mark.integration


async def replay(stack: Stack, *args: str) -> dict[str, Any]:
    return await cli_json(stack, "replay", *args)


async def test_rebuild_restores_equal_tables_resumes_and_leaves_the_sink_group_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run_synthetic(stack, 200, 0.5, seed=5, run_id="rb")
    original = await snapshot(stack)
    sink_offsets = await committed_offsets(stack, stack.settings.sink_group)
    await use_fresh_database(stack, "restored")

    planned = await replay(stack, "rebuild")  # the plan
    assert planned["results"] == 200
    assert planned["request_rows_missing"] == 200
    assert planned["provider_calls"] == 0
    assert await committed_offsets(stack, planned["group"]) == {}  # a dry run commits nothing

    # Interrupted after two chunks (the database "fails"), then resumed by running it again.
    monkeypatch.setattr(replay_run, "CHUNK", 30)
    real_handle = RebuildPostgres.handle
    calls = 0

    async def failing_handle(self: RebuildPostgres, chunk: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("database went away")
        await real_handle(self, chunk)

    monkeypatch.setattr(RebuildPostgres, "handle", failing_handle)
    with pytest.raises(RuntimeError, match="went away"):
        await run_replay(stack.settings, ReplayOptions("rebuild", progress=False))
    monkeypatch.setattr(RebuildPostgres, "handle", real_handle)
    partial = sum((await committed_offsets(stack, planned["group"])).values())
    assert 0 < partial < 200

    resumed = await replay(stack, "rebuild", "--execute")
    assert resumed["records"] == 200 - partial
    assert resumed["resumed_partitions"]
    assert await snapshot(stack) == original
    assert await committed_offsets(stack, stack.settings.sink_group) == sink_offsets

    again = await replay(stack, "rebuild", "--execute")  # finished: the same group has nothing left
    assert again["records"] == 0
    redo = await replay(stack, "rebuild", "--restart", "--execute")  # everything again: a no-op on the tables
    assert (redo["records"], redo["request_rows_inserted"], redo["translation_rows_changed"]) == (200, 0, 0)
    assert await snapshot(stack) == original


async def test_retranslate_estimates_then_refreshes_every_key_with_a_newer_version(stack: Stack) -> None:
    stack.env["LINGUAFLOW_PROVIDER_PRICES"] = '{"pseudo": 1000000}'  # one unit per character
    worker = stack.start_worker().wait_ready()
    await run_synthetic(stack, 100, 0.5, seed=9, run_id="rt", worker=worker)
    unique = unique_count(100, 0.5)
    chars = await stack.fetchval("SELECT sum(length(source_text)) FROM translations")
    before = await stack.fetchval("SELECT max(version) FROM translations")

    cached = await replay(stack, "retranslate")  # the plan
    assert (cached["requests"], cached["cached"], cached["unique_keys"]) == (100, 100, unique)
    assert (cached["provider_texts"], cached["provider_calls"], cached["cost"]) == (0, 0, 0)
    fresh = await replay(stack, "retranslate", "--refresh")  # the plan
    assert (fresh["provider_texts"], fresh["provider_calls"]) == (unique, 1)
    assert fresh["cost"] == pytest.approx(chars)

    done = await replay(stack, "retranslate", "--refresh", "--rate", "200/s", "--execute")
    assert (done["published"], done["group"]) == (100, f"{stack.settings.app_id}-replay-retranslate")
    newer = "SELECT count(*) FROM translations WHERE version > $1"
    assert await stack.wait_for(newer, unique, before) == unique, worker.log_tail()
    assert await stack.fetchval("SELECT count(*) FROM translation_requests") == 100  # same request ids
    assert worker.counter("provider_texts") == 2 * unique
    view = await load_cache_view(stack.settings)
    assert len(view) == unique
    assert all(entry.version > before for entry in view.values())
    assert worker.stop() == 0, worker.log_tail()


async def test_warm_fills_a_new_cache_topic_that_a_worker_then_answers_from(stack: Stack) -> None:
    await run_synthetic(stack, 100, 0.5, seed=13, run_id="wm")
    original = await load_cache_view(stack.settings)
    stack.env["LINGUAFLOW_CACHE_TOPIC"] = f"{stack.settings.app_id}.cache-new"  # the old one was lost
    await ensure_topics(stack.settings)

    planned = await replay(stack, "warm")  # the plan
    assert (planned["translation_rows"], planned["entries_to_write"]) == (len(original), len(original))
    warmed = await replay(stack, "warm", "--rate", "500", "--execute")
    assert (warmed["entries_written"], warmed["already_cached"]) == (len(original), 0)
    again = await replay(stack, "warm", "--execute")  # a re-run (or a resumed one) adds only what is missing
    assert (again["entries_written"], again["already_cached"]) == (0, len(original))

    view = await load_cache_view(stack.settings)
    assert set(view) == set(original)
    for key, entry in view.items():  # cost went through numeric(20, 8): compare it apart
        assert {**orjson.loads(orjson.dumps(entry)), "cost": None} == {
            **orjson.loads(orjson.dumps(original[key])),
            "cost": None,
        }
        assert entry.cost == pytest.approx(original[key].cost)
    partitions = list(range(stack.settings.partitions))
    async for record in read_topic(stack.settings, stack.settings.cache_topic):
        assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)

    worker = stack.start_worker().wait_ready()
    assert worker.stats()["cache_entries"] == len(original)
    now = int(time.time() * 1000)
    items = synthetic_requests(100, 0.5, seed=13, now_ms=now, run_id="wm2")  # the same texts again
    await publish(stack.settings, items, total=100, now_ms=now, progress=False)
    assert await stack.wait_for(ROWS_FOR, 100, "wm2-%") == 100
    assert worker.counter("provider_texts") == 0
    assert worker.stop() == 0, worker.log_tail()
