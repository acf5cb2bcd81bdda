"""TranslationRequest: what producers publish to ``translation.requests``.

Wire format: one JSON object (UTF-8). Unknown fields are ignored so producers can move ahead of
workers; a missing or wrong required field, or an unsupported ``schema_version``, is an
``InvalidRequest`` whose message names the field.
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from linguaflow.errors import InvalidRequest
from linguaflow.schemas import _fields as f
from linguaflow.schemas._frozen import fast_init

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FORMATS = ("text", "html", "icu")
FORMALITIES = ("default", "more", "less", "prefer_more", "prefer_less")
MAX_ID = 200
MAX_CONTEXT = 2_000


# Fields in a __dict__ (no ``slots``) so ``fast_init`` can build one in one update: every request
# event is decoded into one, and a request is held only while its key is in flight.
@fast_init
@dataclass(frozen=True)
class TranslationRequest:
    request_id: str
    text: str
    target_lang: str
    source_lang: str = "auto"
    tenant: str = "default"
    user: str = ""
    format: str = "text"
    glossary: str | None = None
    formality: str = "default"
    context: str | None = None
    provider: str | None = None
    priority: int = 5
    created_at: int = 0  # epoch milliseconds
    # Ask the provider again even if the key is cached (``replay retranslate --refresh``); the
    # newer result version then replaces the cached one. Not part of the cache key.
    refresh: bool = False
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise_text(text: str) -> str:
    """The text a provider sees and the cache key hashes: Unicode NFC, every line break as LF.

    Whitespace is kept: leading/trailing spaces change what a UI string means.
    """
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def request_from_dict(data: Any, *, max_text_chars: int, now_ms: int) -> TranslationRequest:
    if not isinstance(data, dict):
        raise InvalidRequest(f"a request must be a JSON object, got {type(data).__name__}", reason="schema")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise InvalidRequest(
            f"schema_version {str(version)[:20]!r} is not supported (supported: {SUPPORTED_VERSIONS})",
            reason="unsupported_schema_version",
        )
    glossary = f.opt_str(data, "glossary", max_len=MAX_ID)
    if glossary is not None and "@" not in glossary:
        raise f.fail("glossary", f"{glossary[:40]!r} must be 'id@version'")
    # Normalise first: NFC can lengthen a text, and the limit must hold for what is sent on.
    # (The broker's message size limit bounds the raw text.)
    text = normalise_text(f.req_str(data, "text", max_len=sys.maxsize))
    f.no_controls(text, "text")
    if len(text) > max_text_chars:
        raise f.fail("text", f"is {len(text)} characters, the limit is {max_text_chars}")
    if not text.strip():
        raise f.fail("text", "must contain something other than whitespace")
    return TranslationRequest(
        request_id=f.identifier(data, "request_id", max_len=MAX_ID),
        text=text,
        target_lang=f.language(data.get("target_lang"), "target_lang", allow_auto=False),
        source_lang=f.language(data.get("source_lang", "auto"), "source_lang", allow_auto=True),
        tenant=f.identifier(data, "tenant", max_len=MAX_ID, default="default"),
        user=f.identifier(data, "user", max_len=MAX_ID, default=""),
        format=f.choice(data, "format", FORMATS, "text"),
        glossary=glossary,
        formality=f.choice(data, "formality", FORMALITIES, "default"),
        context=f.no_controls(f.opt_str(data, "context", max_len=MAX_CONTEXT), "context"),
        provider=f.opt_str(data, "provider", max_len=50),
        priority=f.integer(data, "priority", default=5, low=0, high=9),
        created_at=f.epoch_ms(data, "created_at", default=now_ms),
        refresh=f.flag(data, "refresh"),
    )


def decode_request(raw: bytes | None, *, max_text_chars: int, now_ms: int) -> TranslationRequest:
    """Bytes from Kafka -> a valid request, or InvalidRequest with a reason for the DLQ."""
    if raw is None:
        raise InvalidRequest("the event has no value (tombstone)", reason="empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = "invalid_utf8" if "utf-8" in str(exc).lower() else "invalid_json"
        raise InvalidRequest(f"not valid JSON: {exc}", reason=reason) from None
    return request_from_dict(data, max_text_chars=max_text_chars, now_ms=now_ms)


def decode_validated_request(raw: bytes | None, *, max_text_chars: int, now_ms: int) -> TranslationRequest:
    """Bytes a worker wrote after ``decode_request`` accepted them (the keyed topic) -> the request,
    without validating every field again (~10x cheaper). Anything that is not exactly such a record
    (another schema version, unknown or missing fields, wrong types) gets the full validation, so
    a bad record still becomes an InvalidRequest with a reason."""
    try:
        data = orjson.loads(raw or b"")
        if type(data) is dict and data.get("schema_version") == SCHEMA_VERSION:
            request = TranslationRequest(**data)
            if _well_typed(request):
                return request
    except (orjson.JSONDecodeError, TypeError):
        pass
    return decode_request(raw, max_text_chars=max_text_chars, now_ms=now_ms)


_STR_FIELDS = ("request_id", "text", "target_lang", "source_lang", "tenant", "user", "format", "formality")
_OPTIONAL_STR_FIELDS = ("glossary", "context", "provider")


def _well_typed(request: TranslationRequest) -> bool:
    return (
        all(type(getattr(request, name)) is str for name in _STR_FIELDS)
        and all(type(getattr(request, name)) in (str, type(None)) for name in _OPTIONAL_STR_FIELDS)
        and type(request.priority) is int
        and type(request.created_at) is int
        and type(request.refresh) is bool
    )


def encode_request(request: TranslationRequest) -> bytes:
    return orjson.dumps(request)
