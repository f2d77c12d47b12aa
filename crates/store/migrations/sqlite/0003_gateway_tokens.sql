-- Gateway authentication tokens (`cf-aig-authorization`). Only the SHA-256 of a token is
-- stored (lowercase hex), unique, so that a lookup by hash is one index probe.
CREATE TABLE gateway_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    preview TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- An account's tokens, oldest first.
CREATE INDEX gateway_tokens_account ON gateway_tokens (account_id, created_at, id);
