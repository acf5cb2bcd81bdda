-- One row per cache key: the newest translation wins (version guard in the upsert). What a
-- translation cost is on the request row that caused the provider call (outcome 'miss'): a hit's
-- result may reach the sink first, so a per-key cost here could be recorded as 0 for good.
CREATE TABLE translations (
    cache_key       text PRIMARY KEY,
    tenant          text NOT NULL,
    source_lang     text NOT NULL,
    target_lang     text NOT NULL,
    format          text NOT NULL,
    source_text     text NOT NULL,
    translated_text text NOT NULL,
    provider        text NOT NULL,
    model           text NOT NULL,
    version         bigint NOT NULL,
    translated_at   timestamptz NOT NULL,
    written_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per request_id (the producer's idempotency key); a re-delivered result changes nothing.
CREATE TABLE translation_requests (
    request_id   text PRIMARY KEY,
    cache_key    text NOT NULL,
    tenant       text NOT NULL,
    user_id      text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('hit', 'coalesced', 'miss')),
    provider     text NOT NULL,
    billed_chars integer NOT NULL,
    cost         numeric(20, 8) NOT NULL,
    latency_ms   bigint NOT NULL,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz NOT NULL,
    written_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX translation_requests_cache_key ON translation_requests (cache_key);
CREATE INDEX translation_requests_tenant_completed ON translation_requests (tenant, completed_at);
