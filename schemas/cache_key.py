"""cache_key(): the identity of a translation. Pure, stable across processes and releases.

Two requests share a key exactly when a provider would be asked the same question: same
normalised text, languages, format, glossary version, formality, context, provider (or ``auto``) and the
provider's model/prompt version. ``KEY_SCHEME`` is hashed in too, so changing what goes into the
key can never collide with keys made before. Golden tests pin the output.
"""

from __future__ import annotations

import hashlib

import orjson

from linguaflow.schemas.request import TranslationRequest

KEY_SCHEME = 1


def cache_key(request: TranslationRequest, model_version: str) -> str:
    """128-bit hex key; ``model_version`` names what answers, e.g. ``pseudo/1`` or ``deepl/v2``."""
    material = orjson.dumps(
        [
            KEY_SCHEME,
            request.text,
            request.source_lang,
            request.target_lang,
            request.format,
            request.glossary or "",
            request.formality,
            request.context or "",
            request.provider or "auto",
            model_version,
        ]
    )
    return hashlib.blake2b(material, digest_size=16).hexdigest()
