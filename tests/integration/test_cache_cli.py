"""The cache topic as a public contract: ``cache dump`` and ``load_cache_view`` on the real topic."""

from __future__ import annotations

import orjson
import pytest

from linguaflow.cache_view import load_cache_view
from linguaflow.kafka import Publisher
from linguaflow.synthetic import unique_count
from testbed.services import Stack
from tests.integration.runs import run_synthetic

pytestmark = pytest.mark.integration


async def test_dump_and_view_hold_every_live_entry_and_report_garbage(stack: Stack) -> None:
    await run_synthetic(stack, 60, 0.5, seed=3, run_id="dump")
    settings = stack.settings
    keys = set(await stack.fetchval("SELECT array_agg(cache_key) FROM translations"))
    assert len(keys) == unique_count(60, 0.5)

    proc = await stack.cli("cache", "dump")
    assert proc.returncode == 0, proc.stderr
    dumped = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert {d["cache_key"] for d in dumped} == keys
    assert all(d["schema_version"] == 1 and d["translated_text"] for d in dumped)

    gone = sorted(keys)[0]
    publisher = Publisher(settings)
    await publisher.start()
    try:
        await (await publisher.send(settings.cache_topic, None, key=gone.encode()))
        await (await publisher.send(settings.cache_topic, b"garbage", key=b"junk"))
    finally:
        await publisher.stop()

    view = await load_cache_view(settings)
    assert set(view) == keys - {gone}
    assert view[sorted(keys)[1]].target_lang == "de"
    assert [(p.key, p.reason) for p in view.problems] == [("junk", "schema")]

    proc = await stack.cli("cache", "dump")
    assert proc.returncode == 1  # an unusable record is reported, not hidden
    assert "junk" in proc.stderr
    assert len(proc.stdout.splitlines()) == len(keys) - 1
