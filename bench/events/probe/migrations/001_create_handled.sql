-- One row per `bench-events.ping` handled: when it was published and handled (µs since the
-- Unix epoch, both from the same machine's clock) and the process that handled it. Keyed by
-- the event id, so a redelivery is counted in `deliveries`, not as another row.
CREATE TABLE p_bench_events__handled (
    event_id     TEXT PRIMARY KEY,
    published_us BIGINT NOT NULL,
    handled_us   BIGINT NOT NULL,
    pid          BIGINT NOT NULL,
    deliveries   BIGINT NOT NULL
);
