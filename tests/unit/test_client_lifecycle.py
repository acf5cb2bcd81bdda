"""The clients refuse calls until started, and validate before they need the broker."""

from __future__ import annotations

import pytest

from linguaflow.client import InvalidRequest, SyncTranslationClient, TranslationClient
from linguaflow.errors import InfraError
from linguaflow.settings import Settings


async def test_the_async_client_refuses_calls_before_start() -> None:
    client = TranslationClient(Settings())
    with pytest.raises(InfraError, match="not started"):
        await client.translate("Hello", "de")
    with pytest.raises(InfraError, match="not started"):
        await client.publish({"text": "Hello", "target_lang": "de"})
    with pytest.raises(InvalidRequest, match="target_lang"):
        await client.translate("Hello", "auto")  # validation needs no broker: it comes first


def test_the_sync_client_refuses_calls_before_start() -> None:
    client = SyncTranslationClient(Settings())
    with pytest.raises(InfraError, match="not started"):
        client.translate("Hello", "de")
    with pytest.raises(InfraError, match="not started"):
        client.translate_many(["Hello"], "de")
    client.stop()  # stopping a client that never started is harmless


async def test_mismatched_idempotency_keys_are_refused_before_sending() -> None:
    client = TranslationClient(Settings())
    with pytest.raises(ValueError, match="2 idempotency keys for 1"):
        await client.translate_many(["Hello"], "de", idempotency_keys=["a", "b"])
