"""Reply matching: which results/DLQ record answers which waiting call, and the futures map."""

from __future__ import annotations

import asyncio

import pytest

from linguaflow.client.replies import PendingReplies, Reply, Translation, match_reply
from linguaflow.errors import DeadLettered, InfraError
from linguaflow.schemas import DeadLetter, TranslationResult, encode

RESULTS, DLQ = "t.results", "t.dlq"


def result(request_id: str, *, cache_hit: bool = False) -> TranslationResult:
    return TranslationResult(
        request_id=request_id,
        cache_key="k" * 32,
        tenant="default",
        user="",
        source_text="Hello",
        source_lang="auto",
        target_lang="de",
        format="text",
        translated_text="[de| Ĥéļļö]",
        provider="pseudo",
        model="pseudo/1",
        billed_chars=0 if cache_hit else 5,
        cost=0.0 if cache_hit else 0.5,
        cache_hit=cache_hit,
        coalesced=False,
        latency_ms=3,
        version=1,
        created_at=1,
        completed_at=2,
    )


def letter(request_id: str | None, reason: str = "unknown_provider") -> list[tuple[str, bytes]]:
    return DeadLetter(reason, "provider 'x' is not configured", DLQ, 0, 7, 1, request_id=request_id).headers()


def match(
    topic: str, value: bytes | None, headers: list[tuple[str, bytes]] | None, waiting: set[str]
) -> tuple[str, Reply] | None:
    return match_reply(topic, value, headers, results_topic=RESULTS, dlq_topic=DLQ, waiting=waiting)


def test_a_result_for_a_waiting_request_becomes_a_translation() -> None:
    matched = match(RESULTS, encode(result("r1")), [], {"r1"})
    assert matched == (
        "r1",
        Translation(
            request_id="r1",
            text="[de| Ĥéļļö]",
            provider="pseudo",
            model="pseudo/1",
            cache_hit=False,
            coalesced=False,
            cost=0.5,
            cache_key="k" * 32,
        ),
    )


def test_a_dlq_record_for_a_waiting_request_becomes_dead_lettered_with_its_headers() -> None:
    matched = match(DLQ, b"original bytes", letter("r1"), {"r1"})
    assert matched is not None
    request_id, reply = matched
    assert request_id == "r1"
    assert isinstance(reply, DeadLettered)
    assert (reply.request_id, reply.reason, reply.message) == (
        "r1",
        "unknown_provider",
        "provider 'x' is not configured",
    )
    assert not reply.retriable
    assert DeadLettered("r", "provider_failed", "boom").retriable


@pytest.mark.parametrize(
    ("topic", "value", "headers"),
    [
        (RESULTS, encode(result("someone-else")), []),  # another producer's result
        (DLQ, b"x", letter("someone-else")),
        (DLQ, b"x", letter(None)),  # DLQ'd before its request_id could be read
        (RESULTS, b"{not json", []),
        (RESULTS, b'{"schema_version": 99, "request_id": "r1"}', []),
        (RESULTS, None, []),
        ("t.other", encode(result("r1")), []),
    ],
)
def test_records_that_answer_nobody_waiting_are_ignored(
    topic: str, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    assert match(topic, value, headers, {"r1"}) is None


async def test_one_reply_answers_every_call_waiting_for_the_id_and_later_ones_are_ignored() -> None:
    pending = PendingReplies()
    first, second = pending.expect("r1"), pending.expect("r1")
    other = pending.expect("r2")
    translation = Translation.from_result(result("r1"))
    assert "r1" in pending
    assert pending.resolve("r1", translation) == 2
    assert first.result() is translation
    assert second.result() is translation
    assert "r1" not in pending
    assert pending.resolve("r1", translation) == 0  # an at-least-once re-delivery
    assert not other.done()
    assert len(pending) == 1


async def test_a_dead_letter_fails_the_waiting_calls() -> None:
    pending = PendingReplies()
    future = pending.expect("r1")
    pending.resolve("r1", DeadLettered("r1", "schema", "text: is required"))
    with pytest.raises(DeadLettered, match="schema"):
        future.result()


async def test_forget_drops_one_waiting_call_and_keeps_the_others() -> None:
    pending = PendingReplies()
    gone, kept = pending.expect("r1"), pending.expect("r1")
    pending.forget("r1", gone)
    assert "r1" in pending
    pending.resolve("r1", Translation.from_result(result("r1")))
    assert kept.done()
    assert not gone.done()
    pending.forget("r1", kept)  # after the reply: harmless
    assert len(pending) == 0


async def test_a_cancelled_call_is_skipped_when_its_reply_arrives() -> None:
    pending = PendingReplies()
    cancelled, waiting = pending.expect("r1"), pending.expect("r1")
    cancelled.cancel()
    pending.resolve("r1", Translation.from_result(result("r1", cache_hit=True)))
    assert waiting.result().cache_hit


async def test_fail_all_tells_every_waiting_call() -> None:
    pending = PendingReplies()
    futures = [pending.expect("a"), pending.expect("b"), pending.expect("b")]
    pending.fail_all(InfraError("listener stopped"))
    await asyncio.sleep(0)
    assert all(isinstance(f.exception(), InfraError) for f in futures)
    assert len(pending) == 0
