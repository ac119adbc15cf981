-- Who was greeted, and when.
CREATE TABLE p_hello__greetings (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    greeted_at TIMESTAMP NOT NULL
);

CREATE INDEX p_hello__greetings_by_name ON p_hello__greetings (name);
