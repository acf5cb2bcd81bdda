"""The peer: the same pipeline built with Quix Streams 3.x, as a user who picked Quix would write it.

Requests are validated with linguaflow's own schema code and keyed with its cache key, grouped by
that key (Quix repartitions through an internal topic, as linguaflow does through its keyed topic),
deduplicated against a RocksDB state store (Quix's changelog topic, as linguaflow's cache table),
translated by the same ``pseudo`` provider, written to a results topic, and read back from it into
Postgres by Quix's PostgreSQLSink: every request upserted into ``peer_requests`` (key
``request_id``), every miss into ``peer_translations`` (key ``cache_key``), the two tables
linguaflow's sink writes. At-least-once, Quix's defaults otherwise.

``python -m bench.quix_pipeline --broker HOST:PORT --requests-topic T --prefix P --database-url URL
--state-dir DIR``; runs until SIGTERM. Invalid requests are counted and dropped (the bench sends
none)."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from quixstreams import Application, State
from quixstreams.sinks.community.postgresql import PostgreSQLSink

from linguaflow.errors import InvalidRequest
from linguaflow.schemas import cache_key
from linguaflow.schemas.request import request_from_dict
from linguaflow.streams.providers.pseudo import PseudoProvider, pseudo_localise

MODEL = PseudoProvider.model_version
MAX_TEXT_CHARS = 5_000
log = logging.getLogger("bench.quix_pipeline")


def keyed(raw: Any) -> dict[str, Any] | None:
    """A raw request as a validated, normalised dict with its cache key; None if it is invalid."""
    try:
        request = request_from_dict(raw, max_text_chars=MAX_TEXT_CHARS, now_ms=int(time.time() * 1000))
    except InvalidRequest as exc:
        log.warning("invalid request dropped: %s", exc)
        return None
    return {**vars(request), "cache_key": cache_key(request, MODEL)}


def translate(request: dict[str, Any], state: State) -> dict[str, Any]:
    """The request's result: the cached translation of its key, or a new one (then cached)."""
    translated = state.get("text")
    hit = translated is not None
    if not hit:
        translated = pseudo_localise(request["text"], request["target_lang"])
        state.set("text", translated)
    now = int(time.time() * 1000)
    return {
        "request_id": request["request_id"],
        "cache_key": request["cache_key"],
        "tenant": request["tenant"],
        "user": request["user"],
        "source_text": request["text"],
        "source_lang": request["source_lang"],
        "target_lang": request["target_lang"],
        "format": request["format"],
        "translated_text": translated,
        "provider": "pseudo",
        "model": MODEL,
        "billed_chars": 0 if hit else len(request["text"]),
        "cache_hit": hit,
        "latency_ms": now - request["created_at"],
        "created_at": request["created_at"],
        "completed_at": now,
    }


def translation_row(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("cache_key", "source_text", "source_lang", "target_lang", "translated_text", "provider", "model")
    return {name: result[name] for name in keep}


def build(args: argparse.Namespace) -> Application:
    app = Application(
        broker_address=args.broker,
        consumer_group=f"{args.prefix}-quix",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        processing_guarantee="at-least-once",
        loglevel="WARNING",
    )
    db = urlsplit(args.database_url)
    connection = {
        "host": db.hostname or "127.0.0.1",
        "port": db.port or 5432,
        "dbname": db.path.lstrip("/"),
        "user": db.username or "postgres",
        "password": db.password or "",
    }
    requests = app.topic(args.requests_topic, value_deserializer="json")
    results = app.topic(f"{args.prefix}.quix.results", value_serializer="json", value_deserializer="json")
    sdf = app.dataframe(requests)
    sdf = sdf.apply(keyed).filter(lambda request: request is not None)
    sdf = sdf.group_by(lambda request: request["cache_key"], name="cache_key")
    sdf = sdf.apply(translate, stateful=True)
    sdf.to_topic(results)
    out = app.dataframe(results)
    out.sink(
        PostgreSQLSink(
            **connection,
            table_name="peer_requests",
            primary_key_columns="request_id",
            upsert_on_primary_key=True,
        )
    )
    misses = out[~out["cache_hit"]].apply(translation_row)
    misses.sink(
        PostgreSQLSink(
            **connection,
            table_name="peer_translations",
            primary_key_columns="cache_key",
            upsert_on_primary_key=True,
        )
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quix_pipeline")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--requests-topic", required=True)
    parser.add_argument("--prefix", required=True, help="names the consumer group and the results topic")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--state-dir", required=True)
    build(parser.parse_args()).run()


if __name__ == "__main__":
    main()
