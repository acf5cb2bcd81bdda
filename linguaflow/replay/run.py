"""The replay driver: read a window chunk by chunk in the replay group, pace it, hand each chunk to
the mode's handler, and commit the chunk (the checkpoint) only once the handler's side effect is
done. A dry run reads the same window, commits nothing and changes nothing."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

from tqdm import tqdm

from linguaflow.cache_view import load_cache_view
from linguaflow.errors import ConfigError
from linguaflow.replay.plan import Pacer
from linguaflow.replay.reader import Record, ReplayReader
from linguaflow.replay.rebuild import RebuildPostgres
from linguaflow.replay.retranslate import Retranslate
from linguaflow.replay.warm import warm_cache
from linguaflow.settings import Settings

MODES = ("rebuild", "retranslate", "warm")
CHUNK = 500


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    mode: str
    from_ms: int | None = None
    from_offsets: dict[int, int] | None = None
    to_ms: int | None = None
    group: str | None = None
    restart: bool = False
    rate: float | None = None  # records per second
    dry_run: bool = False
    refresh: bool = False
    progress: bool = True


class ChunkHandler(Protocol):
    async def start(self) -> None: ...
    async def handle(self, chunk: list[Record]) -> None: ...
    async def close(self) -> None: ...
    def report(self) -> dict[str, Any]: ...


def _check(options: ReplayOptions) -> None:
    if options.mode not in MODES:
        raise ConfigError(f"replay mode is one of {', '.join(MODES)}, got {options.mode!r}")
    if options.refresh and options.mode != "retranslate":
        raise ConfigError("--refresh is for 'replay retranslate' only")
    if options.from_ms is not None and options.from_offsets is not None:
        raise ConfigError("give --from or --from-offsets, not both")
    windowed = options.from_ms, options.from_offsets, options.to_ms, options.group
    if options.mode == "warm" and (any(w is not None for w in windowed) or options.restart):
        raise ConfigError("'replay warm' reads Postgres: no window, group or --restart")


async def run_replay(settings: Settings, options: ReplayOptions) -> dict[str, Any]:
    _check(options)
    if options.mode == "warm":
        return await warm_cache(
            settings, dry_run=options.dry_run, rate=options.rate, progress=options.progress
        )
    handler: ChunkHandler
    if options.mode == "rebuild":
        topic = settings.results_topic
        handler = RebuildPostgres(settings, dry_run=options.dry_run)
    else:
        topic = settings.requests_topic
        cached = await load_cache_view(settings) if options.dry_run else frozenset[str]()
        handler = Retranslate(settings, dry_run=options.dry_run, refresh=options.refresh, cached=cached)
    group = options.group or f"{settings.app_id}-replay-{options.mode}"
    reader = ReplayReader(settings, topic, group)
    try:
        await reader.open(
            from_ms=options.from_ms,
            from_offsets=options.from_offsets,
            to_ms=options.to_ms,
            restart=options.restart,
        )
        await handler.start()
        pacer = Pacer(options.rate, time.time() * 1000)
        desc = f"replay {options.mode}" + (" (dry run)" if options.dry_run else "")
        with tqdm(
            total=reader.total, desc=desc, unit="rec", disable=not options.progress, file=sys.stderr
        ) as bar:
            async for chunk in reader.chunks(CHUNK):
                await asyncio.sleep(pacer.wait_ms(len(chunk), time.time() * 1000) / 1000)
                await handler.handle(chunk)
                if not options.dry_run:
                    await reader.commit(chunk)
                bar.update(len(chunk))
    finally:
        await handler.close()
        await reader.close()
    return {
        "mode": options.mode,
        "dry_run": options.dry_run,
        "topic": topic,
        "group": group,
        "records": reader.total,
        "resumed_partitions": reader.resumed,
        **handler.report(),
    }
