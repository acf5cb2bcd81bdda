"""DLQ tooling: ``linguaflow dlq list`` and ``linguaflow dlq replay``.

Replay re-publishes dead-lettered requests to the requests topic under their own request_id, so
replaying twice cannot create a second row (the sink inserts a request_id once). Records whose bytes
can never become a request (not JSON, not UTF-8, empty) are reported and left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from linguaflow.cli_config import add_execute
from linguaflow.errors import InvalidRequest
from linguaflow.kafka import Publisher, read_topic
from linguaflow.schemas import header_map
from linguaflow.settings import Settings

UNREPLAYABLE = frozenset({"invalid_json", "invalid_utf8", "empty"})
REPLAY_HEADER = "lf-replayed-from"


@dataclass(frozen=True, slots=True)
class DeadRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return self.headers.get("error", "unknown")


@dataclass
class ReplayReport:
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def parse_time(text: str) -> int:
    """Epoch milliseconds from an ISO-8601 timestamp with a timezone, or from a number of ms."""
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone (e.g. Z or +00:00)")
    return int(parsed.timestamp() * 1000)


def select(
    records: Iterable[DeadRecord],
    *,
    reasons: Sequence[str] = (),
    since_ms: int = 0,
    until_ms: int | None = None,
) -> list[DeadRecord]:
    return [
        r
        for r in records
        if (not reasons or r.reason in reasons)
        and r.timestamp_ms >= since_ms
        and (until_ms is None or r.timestamp_ms < until_ms)
    ]


def summarise(records: Iterable[DeadRecord]) -> dict[str, dict[str, Any]]:
    """Per reason: count, first and last time (epoch ms), and one example message."""
    summary: dict[str, dict[str, Any]] = {}
    for r in records:
        row = summary.setdefault(
            r.reason, {"count": 0, "first": r.timestamp_ms, "last": r.timestamp_ms, "example": ""}
        )
        row["count"] += 1
        row["first"] = min(row["first"], r.timestamp_ms)
        row["last"] = max(row["last"], r.timestamp_ms)
        row["example"] = row["example"] or r.headers.get("error_message", "")
    return summary


def replay_value(value: bytes | None, provider: str | None) -> bytes:
    """The request to publish again, optionally pinned to another provider."""
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        raise InvalidRequest("not JSON: cannot be replayed", reason="unreplayable") from None
    if not isinstance(data, dict):
        raise InvalidRequest("not a JSON object: cannot be replayed", reason="unreplayable")
    if provider is not None:
        data["provider"] = provider
        return orjson.dumps(data)
    return value or b""


async def load(settings: Settings) -> list[DeadRecord]:
    return [
        DeadRecord(r.partition, r.offset, r.timestamp, r.key, r.value, header_map(list(r.headers)))
        async for r in read_topic(settings, settings.dlq_topic, progress="reading the DLQ")
    ]


async def replay(
    settings: Settings, records: Sequence[DeadRecord], *, provider: str | None, dry_run: bool
) -> ReplayReport:
    report = ReplayReport()
    publisher = Publisher(settings)
    if not dry_run:
        await publisher.start()
    try:
        pending = []
        for r in records:
            try:
                if r.reason in UNREPLAYABLE:
                    raise InvalidRequest(r.reason, reason=r.reason)
                value = replay_value(r.value, provider)
            except InvalidRequest as exc:
                report.skipped[exc.reason] = report.skipped.get(exc.reason, 0) + 1
                continue
            report.sent += 1
            if dry_run:
                continue
            request_id = r.headers.get("request_id")
            key = request_id.encode() if request_id else r.key
            headers = [(REPLAY_HEADER, f"{settings.dlq_topic}:{r.partition}:{r.offset}".encode())]
            pending.append(await publisher.send(settings.requests_topic, value, key=key, headers=headers))
        for fut in pending:
            await fut
    finally:
        if not dry_run:
            await publisher.stop()
    return report


def _list(settings: Settings, args: argparse.Namespace) -> int:
    records = select(asyncio.run(load(settings)), reasons=args.reason or (), since_ms=args.since or 0)
    if args.json:
        sys.stdout.write(orjson.dumps(summarise(records), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"{len(records)} records in {settings.dlq_topic}")
    for reason, row in sorted(summarise(records).items(), key=lambda kv: -kv[1]["count"]):
        print(f"  {reason:<28} {row['count']:>8}  e.g. {row['example'][:80]}")
    for r in records[: args.show]:
        print(f"--- {r.partition}:{r.offset} {r.headers}\n{(r.value or b'')[:300]!r}")
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    records = select(
        asyncio.run(load(settings)), reasons=args.reason or (), since_ms=args.since or 0, until_ms=args.until
    )
    report = asyncio.run(replay(settings, records, provider=args.provider, dry_run=not args.execute))
    verb = "re-published" if args.execute else "plan: would re-publish"
    print(f"{verb} {report.sent} of {len(records)} records to {settings.requests_topic}", end="")
    print(f"; skipped {report.skipped}" + ("" if args.execute else " (add --execute to send them)"))
    return 0


def add_dlq_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="inspect and replay the dead-letter queue")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="counts by reason (and a few records with --show)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--show", type=int, default=0, help="also print the first N records")
    again = dlq_sub.add_parser(
        "replay", help="re-publish dead-lettered requests (idempotent: same request_id)"
    )
    again.add_argument("--until", type=parse_time, help="only records before this time")
    again.add_argument("--provider", help="pin the replayed requests to this provider")
    add_execute(again, "send them")
    for parser, fn in ((listing, _list), (again, _replay)):
        parser.add_argument("--reason", action="append", help="only this reason (repeatable)")
        parser.add_argument(
            "--since", type=parse_time, help="only records from this time (ISO-8601 or epoch ms)"
        )
        parser.set_defaults(fn=fn)
