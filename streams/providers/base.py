"""The one Provider protocol, its value types, and the registry by name.

Adding a provider is one new module that calls ``register`` plus its fake-server test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from linguaflow.errors import ConfigError
from linguaflow.settings import Settings


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    max_texts: int  # texts per request
    max_chars: int  # characters per request, all texts together


@dataclass(frozen=True, slots=True)
class TranslationJob:
    """One unique text to translate (many requests may wait on it)."""

    cache_key: str
    text: str
    source_lang: str
    target_lang: str
    format: str = "text"
    formality: str = "default"
    glossary: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Translated:
    cache_key: str
    text: str
    billed_chars: int


class Provider(Protocol):
    name: str
    model_version: str  # hashed into cache keys: changing the model or prompt makes new keys
    limits: ProviderLimits
    cost_per_char: float

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        """Translate a batch that fits ``limits``; one Translated per job, in order.

        Raises ProviderError (``retriable`` set) on failure.
        """
        ...

    async def close(self) -> None: ...


ProviderFactory = Callable[[Settings], Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    def decorate(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def create_provider(name: str, settings: Settings) -> Provider:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"unknown provider {name!r} (known: {known})") from None
    return factory(settings)


def provider_names() -> list[str]:
    return sorted(_REGISTRY)
