"""A deterministic corpus of hostile request events (and their headers) for the fuzz test."""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

Event = tuple[bytes, list[tuple[str, bytes]]]


def _valid(rng: random.Random) -> dict[str, object]:
    return {"request_id": f"h-{rng.randrange(10**9)}", "text": "hello", "target_lang": "de"}


def _mutations() -> list[Callable[[random.Random], bytes]]:
    def broken(d: dict[str, object]) -> bytes:
        return orjson.dumps(d)

    def with_(**changes: object) -> Callable[[random.Random], bytes]:
        return lambda rng: broken({**_valid(rng), **changes})

    def without(field: str) -> Callable[[random.Random], bytes]:
        return lambda rng: broken({k: v for k, v in _valid(rng).items() if k != field})

    return [
        lambda rng: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))),  # random bytes
        lambda rng: b"\xff\xfe" + orjson.dumps(_valid(rng)),  # invalid UTF-8
        lambda rng: orjson.dumps(_valid(rng))[: rng.randrange(1, 20)],  # truncated JSON
        lambda rng: b"",  # empty value
        lambda rng: orjson.dumps(rng.choice([[1, 2], "text", 42, None, True])),  # not an object
        without("request_id"),
        without("text"),
        without("target_lang"),
        with_(text=""),
        with_(text="   \n\t "),
        with_(text=12345),
        with_(text=["a", "b"]),
        lambda rng: broken({**_valid(rng), "text": "x" * (500_000 if rng.random() < 0.01 else 60_000)}),
        with_(schema_version=99),
        with_(schema_version="1"),
        with_(target_lang="xx-invalid-code!"),
        with_(target_lang="auto"),
        with_(source_lang=7),
        with_(format="pdf"),
        with_(formality="rude"),
        with_(priority=99),
        with_(priority="high"),
        with_(created_at="yesterday"),
        with_(request_id="bad\x00id"),
        with_(request_id="x" * 1000),
        with_(glossary="no-version"),
        with_(provider="nope"),  # valid JSON, unknown provider
        lambda rng: orjson.dumps({**_valid(rng), "text": "'; DROP TABLE translations; --"})[:-1],  # SQL, cut
        lambda rng: orjson.dumps(
            {**_valid(rng), "request_id": "x'; DROP TABLE translation_requests; --", "text": ""}
        ),
        lambda rng: orjson.dumps(
            {**_valid(rng), "text": "\x00\x01\x02\x1b[31m"}
        ),  # control chars, no content
    ]


def hostile_events(count: int, *, seed: int) -> list[Event]:
    """``count`` events that must all be dead-lettered; some carry huge or odd headers."""
    rng = random.Random(seed)
    makers = _mutations()
    events: list[Event] = []
    for i in range(count):
        value = makers[i % len(makers)](rng)
        headers: list[tuple[str, bytes]] = []
        if i % 7 == 0:
            headers.append(("junk", bytes(rng.randrange(256) for _ in range(rng.choice([0, 10, 20_000])))))
        if i % 11 == 0:  # a trace header that is not one: invalid UTF-8 or the wrong shape
            headers.append(("traceparent", rng.choice([b"\xff\xfe\x00", b"00-zz-yy-01", b"x" * 300])))
        events.append((value, headers))
    return events
