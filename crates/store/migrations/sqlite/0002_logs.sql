-- The request log, its per-gateway row counters, the analytics rollup and stored provider keys.
-- Timestamps of log rows are microseconds since the Unix epoch (INTEGER), so they sort as time.

-- One row per gateway that has logs: a small integer key for the log tables' indexes, and the
-- number of stored log rows (kept in step by every write and delete; never COUNT(*)).
CREATE TABLE log_gateways (
    gkey INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    gateway_id TEXT NOT NULL,
    row_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, gateway_id)
);

CREATE TABLE logs (
    seq INTEGER PRIMARY KEY,
    gkey INTEGER NOT NULL,
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    path TEXT NOT NULL,
    request_type TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    success INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    ttft INTEGER,
    tokens_in INTEGER,
    tokens_out INTEGER,
    cached_tokens_in INTEGER,
    reasoning_tokens INTEGER,
    cost REAL NOT NULL,
    custom_cost INTEGER NOT NULL,
    metadata TEXT,
    event_id TEXT,
    feedback INTEGER,
    score REAL,
    step INTEGER,
    request_content_type TEXT,
    response_content_type TEXT,
    request_size INTEGER NOT NULL,
    response_size INTEGER NOT NULL,
    user_agent TEXT,
    cancelled INTEGER NOT NULL
);

-- Lookup by id (and duplicate detection on retried batches).
CREATE UNIQUE INDEX logs_id ON logs (gkey, id);
-- The default list order, DELETE_OLDEST, and created_at ranges.
CREATE INDEX logs_created ON logs (gkey, created_at, id);
-- One per sortable column; each also serves "filter on it, newest first".
CREATE INDEX logs_provider ON logs (gkey, provider, created_at, id);
CREATE INDEX logs_model ON logs (gkey, model, created_at, id);
CREATE INDEX logs_success ON logs (gkey, success, created_at, id);
CREATE INDEX logs_cached ON logs (gkey, cached, created_at, id);
CREATE INDEX logs_cost ON logs (gkey, cost, created_at, id);
CREATE INDEX logs_duration ON logs (gkey, duration, created_at, id);
CREATE INDEX logs_tokens_in ON logs (gkey, tokens_in, created_at, id);
CREATE INDEX logs_tokens_out ON logs (gkey, tokens_out, created_at, id);
-- Correlation lookups.
CREATE INDEX logs_event_id ON logs (gkey, event_id) WHERE event_id IS NOT NULL;

-- Headers and bodies, apart so that scans of the log stay narrow.
CREATE TABLE log_payloads (
    seq INTEGER PRIMARY KEY REFERENCES logs (seq) ON DELETE CASCADE,
    request_headers TEXT,
    response_headers TEXT,
    request_body BLOB,
    response_body BLOB
);

-- Analytics: counters per gateway x minute (since the epoch) x provider x model ('' = none).
CREATE TABLE log_rollup (
    gkey INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    cache_hits INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost REAL NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model)
) WITHOUT ROWID;

-- Analytics: duration histogram, one row per non-empty log-scale bucket.
CREATE TABLE log_latency (
    gkey INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model, bucket)
) WITHOUT ROWID;

-- The same per hour (minute = the hour's first minute), so long ranges read few rows.
CREATE TABLE log_rollup_hourly (
    gkey INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    cache_hits INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost REAL NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model)
) WITHOUT ROWID;

CREATE TABLE log_latency_hourly (
    gkey INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (gkey, minute, provider, model, bucket)
) WITHOUT ROWID;

CREATE TABLE provider_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    gateway_id TEXT NOT NULL,
    provider_slug TEXT NOT NULL,
    alias TEXT NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    secret_preview TEXT NOT NULL,
    default_config INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    UNIQUE (account_id, gateway_id, provider_slug, alias)
);
