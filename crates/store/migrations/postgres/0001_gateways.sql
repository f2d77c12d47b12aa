CREATE TABLE IF NOT EXISTS gateways (
    account_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    cache_ttl BIGINT NOT NULL,
    cache_invalidate_on_update BOOLEAN NOT NULL,
    collect_logs BOOLEAN NOT NULL,
    rate_limiting_interval BIGINT NOT NULL,
    rate_limiting_limit BIGINT NOT NULL,
    rate_limiting_technique TEXT NOT NULL,
    authentication BOOLEAN NOT NULL,
    log_management BIGINT,
    log_management_strategy TEXT NOT NULL,
    retry_max_attempts BIGINT NOT NULL,
    retry_delay BIGINT NOT NULL,
    retry_backoff TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
