-- Worker tokens. The secret itself is never stored: only its SHA-256 (`token_hash`), found
-- through the non-secret `lookup` part of the token. Timestamps are RFC 3339 UTC text.
CREATE TABLE p_worker_token__tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenant (id),
    lookup       TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

CREATE INDEX p_worker_token__tokens_by_tenant ON p_worker_token__tokens (tenant_id);
