"""The real pipeline (worker subprocess, real broker and Postgres) with provider ``google_v3``
against the fake v3 API and its fake OAuth endpoint: a service-account key minting one token, the
token revoked mid-run (401 → a new token, no request lost), a glossary, costs in Postgres, and no
secret in the worker's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.fakes.apis import GOOGLE_V3
from testbed.fakes.oauth import FakeOAuth, make_service_account
from testbed.fakes.server import FakeApi
from testbed.services import Stack
from tests.integration.test_providers import ROWS, finish, send

pytestmark = pytest.mark.integration


@pytest.fixture
def google_v3(tmp_path: Path) -> Iterator[tuple[FakeApi, FakeOAuth, Path]]:
    key_file = tmp_path / "service-account.json"
    fake = FakeApi(GOOGLE_V3)
    oauth = fake.oauth = FakeOAuth(make_service_account(key_file, f"{fake.url}/token").public_key())
    fake.start()
    yield fake, oauth, key_file
    fake.stop()


async def test_google_v3_answers_every_request_and_survives_a_revoked_token(
    stack: Stack, google_v3: tuple[FakeApi, FakeOAuth, Path]
) -> None:
    fake, oauth, key_file = google_v3
    stack.env.update(
        {
            "LINGUAFLOW_PROVIDER": "google_v3",
            "LINGUAFLOW_GOOGLE_V3_CREDENTIALS_FILE": str(key_file),  # project_id from the key
            "LINGUAFLOW_GOOGLE_V3_BASE_URL": fake.url,
            "LINGUAFLOW_PROVIDER_TIMEOUT_S": "5",
        }
    )
    worker = stack.start_worker().wait_ready()
    await send(stack, 1000, "v3", unique=500)
    assert await stack.wait_for(ROWS, 1000) == 1000, worker.log_tail()
    calls = worker.counter("provider_calls.provider.google_v3")
    assert (fake.calls, oauth.exchanges) == (calls, 1)  # one token for the whole run
    sizes = [len(body["contents"]) for body in fake.requests]
    print(f"\ngoogle_v3: {calls} calls for 1,000 requests (500 keys), {max(sizes)} texts at most per call")

    oauth.expire_all()  # revoked: every call in flight gets a 401, mints a new token, asks again
    await send(stack, 100, "v3-glossary", unique=50, target_lang="fr", glossary="ui@1")
    assert await stack.wait_for(ROWS, 1100) == 1100, worker.log_tail()
    refused = fake.calls - worker.counter("provider_calls.provider.google_v3")
    assert refused >= 1
    assert oauth.exchanges == 2
    print(f"google_v3: after the revocation {refused} call(s) refused (401) and made again with a new token")
    assert worker.stats()["counters"].get("provider_errors", 0) == 0  # the 401 never left the provider

    assert await stack.fetchval("SELECT count(*) FROM translations") == 550
    assert await stack.fetchval("SELECT count(*) FROM translations WHERE provider <> 'google_v3'") == 0
    glossary = (
        "SELECT count(*) FROM translations WHERE target_lang = 'fr' AND translated_text LIKE '%(glossary)'"
    )
    assert await stack.fetchval(glossary) == 50
    stored = await stack.fetchval("SELECT array_agg(translated_text) FROM translations")
    assert all("{name}" in t and "%d" in t and "<b>messages</b>" in t for t in stored)
    billed, cost = await stack.fetchval("SELECT (sum(billed_chars), sum(cost)) FROM translation_requests")
    assert billed > 0
    assert float(cost) == pytest.approx(billed * 20 / 1e6, rel=1e-6)
    finish(worker)
    log = worker.log_path.read_text()
    assert not any(secret in log for secret in [*oauth.issued, "PRIVATE KEY", "assertion"])
