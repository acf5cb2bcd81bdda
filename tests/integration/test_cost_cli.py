"""``linguaflow cost`` as a user runs it, over rows the real pipeline wrote with a priced provider."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest

from linguaflow.produce import publish
from testbed.services import Stack

pytestmark = pytest.mark.integration


async def test_cost_by_provider_tenant_and_day(stack: Stack) -> None:
    stack.env["LINGUAFLOW_PROVIDER_PRICES"] = '{"pseudo": 1000000}'  # one unit per character
    worker = stack.start_worker().wait_ready()
    now = int(time.time() * 1000)
    texts = ["Hello", "Bye", "Hello", "Good morning"]  # one tenant sends "Hello" twice: once free
    items = [
        {"request_id": f"c-{i}", "text": t, "target_lang": "de", "tenant": f"t{i % 2}"}
        for i, t in enumerate(texts)
    ]
    await publish(stack.settings, items, total=len(items), now_ms=now, progress=False)
    assert await stack.wait_for("SELECT count(*) FROM translation_requests", 4) == 4
    assert worker.stop() == 0, worker.log_tail()
    # what a request was billed: the masked text the provider saw (no placeholders here)
    assert await stack.fetchval("SELECT sum(cost) FROM translation_requests") == Decimal(5 + 12 + 3)

    async def cost(*args: str) -> str:
        proc = await stack.cli("cost", *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    rows = orjson.loads(await cost("--by", "tenant", "--json"))
    assert {(r["tenant"], r["requests"], r["billed_chars"], float(r["cost"])) for r in rows} == {
        ("t0", 2, 5, 5.0),
        ("t1", 2, 15, 15.0),
    }
    table = (await cost("--by", "provider,day")).splitlines()
    assert table[0].split() == ["provider", "day", "requests", "misses", "billed_chars", "cost"]
    assert table[1].split()[0] == "pseudo"
    assert table[-1].split() == ["total", "4", "3", "20", "20.000000"]
    assert orjson.loads(await cost("--since", "2999-01-01", "--json")) == []
