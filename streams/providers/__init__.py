"""Translation providers: one protocol, a registry, one module per provider."""

# Each provider module registers itself on import.
from linguaflow.streams.providers import deepl as _deepl  # noqa: F401
from linguaflow.streams.providers import google as _google  # noqa: F401
from linguaflow.streams.providers import google_v3 as _google_v3  # noqa: F401
from linguaflow.streams.providers import libre as _libre  # noqa: F401
from linguaflow.streams.providers import openai_chat as _openai_chat  # noqa: F401
from linguaflow.streams.providers import pseudo as _pseudo  # noqa: F401
from linguaflow.streams.providers.base import (
    Provider,
    ProviderLimits,
    Translated,
    TranslationJob,
    create_provider,
    provider_names,
    register,
)

__all__ = [
    "Provider",
    "ProviderLimits",
    "Translated",
    "TranslationJob",
    "create_provider",
    "provider_names",
    "register",
]
