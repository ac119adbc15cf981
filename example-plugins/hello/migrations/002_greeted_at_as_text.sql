-- `greeted_at` becomes RFC 3339 text in UTC (`flovyn_sdk::time::Timestamp`, decision 0018):
-- a TIMESTAMP column cannot be read through the plugin's database handle on either database.
-- SQLite cannot change a column's type in place, so the table is rebuilt, the same way on both.
-- (`CAST` keeps rows written before; their text form is the database's own, not RFC 3339:
-- hello never wrote any.)
CREATE TABLE p_hello__greetings_v2 (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    greeted_at TEXT NOT NULL
);

INSERT INTO p_hello__greetings_v2 (id, name, greeted_at)
SELECT id, name, CAST(greeted_at AS TEXT) FROM p_hello__greetings;

DROP TABLE p_hello__greetings;

ALTER TABLE p_hello__greetings_v2 RENAME TO p_hello__greetings;

CREATE INDEX p_hello__greetings_by_name ON p_hello__greetings (name);
