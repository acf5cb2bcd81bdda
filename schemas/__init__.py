"""Frozen, versioned event schemas and their codecs. Pure: no I/O in this package."""

from linguaflow.schemas.cache_key import cache_key
from linguaflow.schemas.dlq import DeadLetter, header_map
from linguaflow.schemas.request import (
    TranslationRequest,
    decode_request,
    decode_validated_request,
    encode_request,
    normalise_text,
)
from linguaflow.schemas.result import (
    OUTCOMES,
    CacheEntry,
    TranslationResult,
    decode_cache_entry,
    decode_result,
    encode,
)

__all__ = [
    "OUTCOMES",
    "CacheEntry",
    "DeadLetter",
    "TranslationRequest",
    "TranslationResult",
    "cache_key",
    "decode_cache_entry",
    "decode_request",
    "decode_result",
    "decode_validated_request",
    "encode",
    "encode_request",
    "header_map",
    "normalise_text",
]
