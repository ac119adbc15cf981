CREATE TABLE p_notes__notes (
    id TEXT PRIMARY KEY,
    tenant TEXT REFERENCES tenant (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX p_notes__notes_by_tenant ON p_notes__notes (tenant, created_at);
