CREATE TABLE p_remote_probe__ticks (
    source TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
