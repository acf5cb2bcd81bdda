"""Building requests on the producer's side. Pure: the clock and the randomness are arguments.

Every request is validated by the schema's own ``request_from_dict`` before anything is sent, so a
producer sees its mistake as an ``InvalidRequest`` at the call site instead of a DLQ record later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypedDict

from linguaflow.schemas.request import TranslationRequest, request_from_dict

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENTROPY_BYTES = 10
IDEMPOTENT_PREFIX = "idem-"


class RequestFields(TypedDict, total=False):
    """The optional fields of a request a caller may set (see ``TranslationRequest``)."""

    tenant: str
    user: str
    format: str
    glossary: str | None
    formality: str
    context: str | None
    provider: str | None
    priority: int


def new_request_id(now_ms: int, entropy: bytes) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, as 26 Crockford base-32 characters.
    Ids made later sort later, which keeps DLQ and database listings readable."""
    if len(entropy) != ENTROPY_BYTES:
        raise ValueError(f"entropy must be {ENTROPY_BYTES} bytes, got {len(entropy)}")
    if not 0 <= now_ms < 2**48:
        raise ValueError(f"{now_ms} ms does not fit the 48-bit time of a ULID")
    value = (now_ms << 80) | int.from_bytes(entropy, "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def idempotent_request_id(idempotency_key: str, tenant: str = "default") -> str:
    """The same key (per tenant) always gives the same ``request_id``, so publishing again after a
    crash or a timeout cannot create a second request row. Hashed: any key, bounded id."""
    digest = hashlib.blake2b(f"{tenant}\0{idempotency_key}".encode(), digest_size=16).hexdigest()
    return IDEMPOTENT_PREFIX + digest


def build_request(
    data: Mapping[str, Any] | TranslationRequest,
    *,
    max_text_chars: int,
    now_ms: int,
    entropy: bytes,
    idempotency_key: str | None = None,
) -> TranslationRequest:
    """A validated request from a mapping or a ``TranslationRequest`` (re-validated: the dataclass
    does not check its own fields). The ``request_id`` is, in order: the one given, one derived
    from ``idempotency_key``, or a new ULID."""
    fields = dict(data.to_dict() if isinstance(data, TranslationRequest) else data)
    if isinstance(data, TranslationRequest) and data.created_at == 0:
        del fields["created_at"]  # the dataclass default means "not set": stamp it now
    if idempotency_key is not None and fields.get("request_id") in (None, ""):
        fields["request_id"] = idempotent_request_id(idempotency_key, str(fields.get("tenant") or "default"))
    elif fields.get("request_id") in (None, ""):
        fields["request_id"] = new_request_id(now_ms, entropy)
    return request_from_dict(fields, max_text_chars=max_text_chars, now_ms=now_ms)


def request_fields(
    text: str, target: str, source: str, *, request_id: str | None, extra: RequestFields
) -> dict[str, Any]:
    """The mapping ``build_request`` takes, from ``translate()``'s arguments."""
    return {**extra, "text": text, "target_lang": target, "source_lang": source, "request_id": request_id}
