CREATE TABLE p_audit_log__events (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    event TEXT NOT NULL,
    publisher TEXT NOT NULL,
    tenant_id TEXT,
    actor TEXT,
    subject TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX p_audit_log__events_by_time ON p_audit_log__events (occurred_at);
CREATE INDEX p_audit_log__events_by_event ON p_audit_log__events (event, id);
