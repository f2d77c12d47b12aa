-- The request log, its per-gateway row counters, the analytics rollup and stored provider keys.
-- Same shape as the SQLite schema. Text that is sorted or compared uses the "C" collation, so
-- order is bytewise as in SQLite; created_at is microseconds since the Unix epoch.

CREATE TABLE log_gateways (
    gkey BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    gateway_id TEXT COLLATE "C" NOT NULL,
    row_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (account_id, gateway_id)
);

CREATE TABLE logs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gkey BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C",
    path TEXT NOT NULL,
    request_type TEXT COLLATE "C" NOT NULL,
    status_code BIGINT NOT NULL,
    success BOOLEAN NOT NULL,
    cached BOOLEAN NOT NULL,
    duration BIGINT NOT NULL,
    ttft BIGINT,
    tokens_in BIGINT,
    tokens_out BIGINT,
    cached_tokens_in BIGINT,
    reasoning_tokens BIGINT,
    cost DOUBLE PRECISION NOT NULL,
    custom_cost BOOLEAN NOT NULL,
    metadata TEXT,
    event_id TEXT COLLATE "C",
    feedback BIGINT,
    score DOUBLE PRECISION,
    step BIGINT,
    request_content_type TEXT COLLATE "C",
    response_content_type TEXT COLLATE "C",
    request_size BIGINT NOT NULL,
    response_size BIGINT NOT NULL,
    user_agent TEXT COLLATE "C",
    cancelled BOOLEAN NOT NULL
);

CREATE UNIQUE INDEX logs_id ON logs (gkey, id);
CREATE INDEX logs_created ON logs (gkey, created_at, id);
CREATE INDEX logs_provider ON logs (gkey, provider, created_at, id);
-- Nullable sort columns: NULLS FIRST so that "missing sorts lowest" (as in SQLite) can be read
-- from the index in both directions.
CREATE INDEX logs_model ON logs (gkey, model NULLS FIRST, created_at, id);
CREATE INDEX logs_success ON logs (gkey, success, created_at, id);
CREATE INDEX logs_cached ON logs (gkey, cached, created_at, id);
CREATE INDEX logs_cost ON logs (gkey, cost, created_at, id);
CREATE INDEX logs_duration ON logs (gkey, duration, created_at, id);
CREATE INDEX logs_tokens_in ON logs (gkey, tokens_in NULLS FIRST, created_at, id);
CREATE INDEX logs_tokens_out ON logs (gkey, tokens_out NULLS FIRST, created_at, id);
CREATE INDEX logs_event_id ON logs (gkey, event_id) WHERE event_id IS NOT NULL;

CREATE TABLE log_payloads (
    seq BIGINT PRIMARY KEY REFERENCES logs (seq) ON DELETE CASCADE,
    request_headers TEXT,
    response_headers TEXT,
    request_body BYTEA,
    response_body BYTEA
);

CREATE TABLE log_rollup (
    gkey BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    cache_hits BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model)
);

CREATE TABLE log_latency (
    gkey BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model, bucket)
);

-- The same per hour (minute = the hour's first minute), so long ranges read few rows.
CREATE TABLE log_rollup_hourly (
    gkey BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    cache_hits BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model)
);

CREATE TABLE log_latency_hourly (
    gkey BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model, bucket)
);

CREATE TABLE provider_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    gateway_id TEXT COLLATE "C" NOT NULL,
    provider_slug TEXT COLLATE "C" NOT NULL,
    alias TEXT COLLATE "C" NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    secret_preview TEXT NOT NULL,
    default_config BOOLEAN NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    modified_at TEXT NOT NULL,
    UNIQUE (account_id, gateway_id, provider_slug, alias)
);
