"""The DLQ record contract (topic ``translation.dlq``): the value is the original bytes, untouched;
headers say why and where from, so an operator can replay or discard it."""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEADER_VALUE = 1_000  # error text is truncated: a DLQ header must not grow without bound


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str  # short code: invalid_json, schema, provider_failed, ...
    error: str
    origin_topic: str
    origin_partition: int
    origin_offset: int
    first_failed_at: int  # epoch ms
    attempts: int = 1
    request_id: str | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        pairs = [
            ("error", self.reason),
            ("error_message", self.error[:MAX_HEADER_VALUE]),
            ("attempts", str(self.attempts)),
            ("origin_topic", self.origin_topic),
            ("origin_partition", str(self.origin_partition)),
            ("origin_offset", str(self.origin_offset)),
            ("first_failed_at", str(self.first_failed_at)),
        ]
        if self.request_id is not None:
            pairs.append(("request_id", self.request_id[:MAX_HEADER_VALUE]))
        return [(k, v.encode("utf-8", "replace")) for k, v in pairs]


def header_map(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (headers or [])}
