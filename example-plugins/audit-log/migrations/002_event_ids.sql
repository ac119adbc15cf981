-- Each event is recorded once: a redelivery (the same event id) adds no row.
ALTER TABLE p_audit_log__events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX p_audit_log__events_by_event_id ON p_audit_log__events (event_id);
