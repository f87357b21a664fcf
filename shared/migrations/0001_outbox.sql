-- Messages to RabbitMQ written in the same transaction as the state they
-- announce, deleted once the broker confirmed them.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    target      text NOT NULL CHECK (target IN ('work', 'results')),
    routing_key text NOT NULL,
    priority    smallint NOT NULL DEFAULT 0,
    kind        text NOT NULL,
    body        bytea NOT NULL
);
