"""Provider HTTP through a proxy: a worker whose provider is HTTPS (a fake DeepL with a certificate
from the test's CA, trusted through ``SSL_CERT_FILE``) reaches it through ``HTTPS_PROXY``,
credentials included, and goes direct once the host is in ``NO_PROXY``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from testbed.fakes.apis import DEEPL
from testbed.fakes.proxy import ConnectProxy
from testbed.fakes.server import FakeApi
from testbed.services import Stack
from tests.integration.runs import ROWS_FOR
from tests.integration.secured import make_pki
from tests.integration.test_pipeline import send_synthetic

pytestmark = pytest.mark.integration

CREDENTIALS = "linguaflow:pr0xy-secret"


async def translate(stack: Stack, count: int, run_id: str, seed: int) -> None:
    worker = stack.start_worker(run_id).wait_ready()
    await send_synthetic(stack, count, 0.0, seed=seed, run_id=run_id)
    assert await stack.wait_for(ROWS_FOR, count, f"{run_id}-%") == count, worker.log_tail()
    assert worker.stop() == 0, worker.log_tail()


async def test_provider_calls_go_through_https_proxy_unless_the_host_is_in_no_proxy(
    stack: Stack, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    fake = FakeApi(DEEPL, tls=pki.server_context()).start()
    try:
        with ConnectProxy() as proxy:
            stack.env.update(
                {
                    "LINGUAFLOW_PROVIDER": "deepl",
                    "LINGUAFLOW_DEEPL_API_KEY": "proxied-deepl-key:fx",
                    "LINGUAFLOW_DEEPL_BASE_URL": f"https://localhost:{fake.port}",
                    "SSL_CERT_FILE": str(pki.ca_file),
                    "HTTPS_PROXY": proxy.url(CREDENTIALS),
                    "NO_PROXY": "example.invalid",
                }
            )
            await translate(stack, 40, "proxied", seed=1)
            assert fake.calls >= 1
            assert {t.target for t in proxy.tunnels} == {f"localhost:{fake.port}"}
            expected = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
            assert {t.authorization for t in proxy.tunnels} == {expected}

            tunnels, calls = len(proxy.tunnels), fake.calls
            stack.env["NO_PROXY"] = "example.invalid,localhost"
            await translate(stack, 40, "direct", seed=2)
            assert fake.calls > calls
            assert len(proxy.tunnels) == tunnels  # not one more tunnel: the calls went direct
    finally:
        fake.stop()
