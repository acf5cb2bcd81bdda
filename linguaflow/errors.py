"""The one exception root. Every error says whether retrying can help (`retriable`) and carries a
short machine-readable `reason` that DLQ headers and metrics use."""

from __future__ import annotations


class LinguaflowError(Exception):
    """Root of every error linguaflow raises on purpose."""

    retriable: bool = False
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None, retriable: bool | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if retriable is not None:
            self.retriable = retriable


class ConfigError(LinguaflowError):
    reason = "config"


class InvalidRequest(LinguaflowError):
    """A request event that can never be processed: it goes to the DLQ with `reason`."""

    reason = "invalid_request"


class ProviderError(LinguaflowError):
    """A provider call failed; `retriable` says whether another attempt may succeed, and
    `retry_after_s` what the provider asked for (HTTP ``Retry-After``), if anything."""

    reason = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retriable: bool | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, reason=reason, retriable=retriable)
        self.retry_after_s = retry_after_s


class SinkWriteError(LinguaflowError):
    """The database write failed; the batch is kept and its offsets stay uncommitted."""

    reason = "sink_write"
    retriable = True


class InfraError(LinguaflowError):
    """A local broker or database could not be started, reached or stopped."""

    reason = "infra"


class TranslationTimeout(LinguaflowError):
    """The client published a request but no result or DLQ record for it arrived in time. The
    request may still complete later; publishing it again with the same ``request_id`` is safe."""

    reason = "timeout"
    retriable = True

    def __init__(self, message: str, *, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class DeadLettered(LinguaflowError):
    """The worker sent the request to the DLQ; ``reason`` and ``message`` are its DLQ headers
    (``error``, ``error_message``). Only a provider failure is worth retrying as is."""

    def __init__(self, request_id: str, reason: str, message: str) -> None:
        super().__init__(
            f"request {request_id!r} was dead-lettered ({reason}): {message}",
            reason=reason,
            retriable=reason == "provider_failed",
        )
        self.request_id = request_id
        self.message = message
