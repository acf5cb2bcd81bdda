"""``pseudo``: offline, deterministic pseudo-localisation (the default provider).

Letters become accented look-alikes and the text is wrapped as ``[de| …]``, so untranslated UI
strings and truncation stand out. Placeholders (``{name}``, ``{{x}}``, ``%s``, ``%(x)s``), markup
tags and entities are kept byte for byte. Same input, same output, forever: it is safe to cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from linguaflow.settings import Settings
from linguaflow.streams.providers.base import ProviderLimits, Translated, TranslationJob, answer, register

_PROTECTED = re.compile(r"\{\{[^{}]*\}\}|\{[^{}]*\}|%(?:\([^)]*\))?[sdif]|<[^<>]+>|&[A-Za-z#0-9]+;")
_ACCENTS = str.maketrans(
    "AaBCcDdEeGgHhIiJjKkLlNnOoRrSsTtUuWwYyZz",
    "ÅåƁÇçĐđÉéĜĝĤĥÎîĴĵĶķĻļÑñÖöŔŕŠšŢţÛûŴŵÝýŽž",
)


def pseudo_localise(text: str, target_lang: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _PROTECTED.finditer(text):
        out.append(text[pos : match.start()].translate(_ACCENTS))
        out.append(match.group(0))
        pos = match.end()
    out.append(text[pos:].translate(_ACCENTS))
    return f"[{target_lang}| {''.join(out)}]"


class PseudoProvider:
    name = "pseudo"
    model_version = "pseudo/1"
    limits = ProviderLimits(max_texts=100, max_chars=100_000)

    def __init__(self, cost_per_char: float = 0.0) -> None:
        self.cost_per_char = cost_per_char  # free by default; priced only to exercise cost reports

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        return [answer(self, job, pseudo_localise(job.text, job.target_lang), len(job.text)) for job in batch]

    async def close(self) -> None:
        return None


@register("pseudo")
def _create(settings: Settings) -> PseudoProvider:
    return PseudoProvider(settings.price_per_char("pseudo"))
