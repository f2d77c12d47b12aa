-- Gateway authentication tokens (`cf-aig-authorization`). Only the SHA-256 of a token is
-- stored (lowercase hex), unique, so that a lookup by hash is one index probe.
CREATE TABLE gateway_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    name TEXT,
    token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    preview TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

-- An account's tokens, oldest first.
CREATE INDEX gateway_tokens_account ON gateway_tokens (account_id, created_at, id);
