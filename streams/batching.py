"""Pure batch accumulation for provider calls: jobs are grouped by everything a provider request
shares (languages, format, formality, glossary, context, provider hint) and released when a group reaches the
provider's limits or has lingered long enough. Time is passed in; nothing here sleeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from linguaflow.streams.providers.base import ProviderLimits, TranslationJob

GroupKey = tuple[str, str, str, str, str, str, str]


def group_key(job: TranslationJob) -> GroupKey:
    return (
        job.source_lang,
        job.target_lang,
        job.format,
        job.formality,
        job.glossary or "",
        job.context or "",
        job.provider or "",
    )


def split_to_limits(jobs: Sequence[TranslationJob], limits: ProviderLimits) -> list[list[TranslationJob]]:
    """Cut jobs (in order) into batches within ``limits``; an oversize job travels alone."""
    batches: list[list[TranslationJob]] = []
    current: list[TranslationJob] = []
    chars = 0
    for job in jobs:
        size = len(job.text)
        if current and (len(current) >= limits.max_texts or chars + size > limits.max_chars):
            batches.append(current)
            current, chars = [], 0
        current.append(job)
        chars += size
    if current:
        batches.append(current)
    return batches


@dataclass
class _Group:
    opened_ms: float
    jobs: list[TranslationJob] = field(default_factory=list)
    chars: int = 0


class BatchAccumulator:
    def __init__(self, limits: ProviderLimits, linger_ms: float) -> None:
        self._limits = limits
        self._linger_ms = linger_ms
        self._groups: dict[GroupKey, _Group] = {}

    def __len__(self) -> int:
        return sum(len(g.jobs) for g in self._groups.values())

    def add(self, job: TranslationJob, now_ms: float) -> list[list[TranslationJob]]:
        """Add a job; return the batches that are now ready (full groups)."""
        key = group_key(job)
        ready: list[list[TranslationJob]] = []
        group = self._groups.get(key)
        if group is not None and group.chars + len(job.text) > self._limits.max_chars:
            ready.append(self._groups.pop(key).jobs)
            group = None
        if group is None:
            group = self._groups[key] = _Group(opened_ms=now_ms)
        group.jobs.append(job)
        group.chars += len(job.text)
        if len(group.jobs) >= self._limits.max_texts or group.chars >= self._limits.max_chars:
            ready.append(self._groups.pop(key).jobs)
        return ready

    def due(self, now_ms: float) -> list[list[TranslationJob]]:
        """Release every group that has lingered ``linger_ms`` or more."""
        expired = [k for k, g in self._groups.items() if now_ms - g.opened_ms >= self._linger_ms]
        return [self._groups.pop(k).jobs for k in expired]

    def drain(self) -> list[list[TranslationJob]]:
        batches = [g.jobs for g in self._groups.values()]
        self._groups.clear()
        return batches

    def next_deadline(self) -> float | None:
        if not self._groups:
            return None
        return min(g.opened_ms for g in self._groups.values()) + self._linger_ms
