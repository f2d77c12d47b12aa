CREATE TABLE IF NOT EXISTS gateways (
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    cache_ttl INTEGER NOT NULL,
    cache_invalidate_on_update INTEGER NOT NULL,
    collect_logs INTEGER NOT NULL,
    rate_limiting_interval INTEGER NOT NULL,
    rate_limiting_limit INTEGER NOT NULL,
    rate_limiting_technique TEXT NOT NULL,
    authentication INTEGER NOT NULL,
    log_management INTEGER,
    log_management_strategy TEXT NOT NULL,
    retry_max_attempts INTEGER NOT NULL,
    retry_delay INTEGER NOT NULL,
    retry_backoff TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
