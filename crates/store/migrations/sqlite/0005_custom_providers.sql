CREATE TABLE IF NOT EXISTS custom_providers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    enable INTEGER NOT NULL,
    description TEXT,
    link TEXT,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    UNIQUE (account_id, slug)
);
