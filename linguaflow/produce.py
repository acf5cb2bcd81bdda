"""Publishing requests: JSON lines from a file/stdin, or synthetic ones, with a progress bar.
Every line is validated before it is sent, so a producer sees its mistakes at once; invalid lines
are reported and skipped (``--strict`` stops at the first)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson
from tqdm import tqdm

from linguaflow.errors import InvalidRequest
from linguaflow.kafka import Publisher
from linguaflow.schemas import encode_request
from linguaflow.schemas.request import request_from_dict
from linguaflow.settings import Settings


@dataclass
class ProduceReport:
    sent: int = 0
    invalid: list[str] = field(default_factory=list)


def read_json_lines(stream: TextIO) -> Iterable[Any]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield InvalidRequest(f"line {number}: not valid JSON: {exc}", reason="invalid_json")


async def publish(
    settings: Settings,
    items: Iterable[Any],
    *,
    total: int | None,
    now_ms: int,
    strict: bool = False,
    progress: bool = True,
) -> ProduceReport:
    report = ProduceReport()
    publisher = Publisher(settings, linger_ms=20)
    await publisher.start()
    try:
        pending = []
        with tqdm(total=total, desc="publishing", unit="req", disable=not progress, file=sys.stderr) as bar:
            for item in items:
                try:
                    if isinstance(item, InvalidRequest):
                        raise item
                    request = request_from_dict(item, max_text_chars=settings.max_text_chars, now_ms=now_ms)
                except InvalidRequest as exc:
                    if strict:
                        raise
                    report.invalid.append(str(exc))
                    continue
                pending.append(
                    await publisher.send(
                        settings.requests_topic, encode_request(request), key=request.request_id.encode()
                    )
                )
                if len(pending) >= 5_000:
                    report.sent += await _settle(pending, bar)
            report.sent += await _settle(pending, bar)
    finally:
        await publisher.stop()
    return report


async def _settle(pending: list[Any], bar: Any) -> int:
    """Wait until the broker acknowledged every pending send; return how many there were."""
    for fut in pending:
        await fut  # raises if the broker did not accept it: the caller sees the failure
    settled = len(pending)
    bar.update(settled)
    pending.clear()
    return settled
