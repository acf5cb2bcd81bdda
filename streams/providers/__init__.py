"""Translation providers: one protocol, a registry, one module per provider."""

from streams.providers import pseudo as _pseudo  # noqa: F401  (registers itself)
from streams.providers.base import (
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
