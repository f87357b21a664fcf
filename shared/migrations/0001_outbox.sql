-- Messages to RabbitMQ written in the same transaction as the state they
-- announce, deleted once the broker confirmed them. created_at is the time
-- of the write, not of the transaction's start, so that the sweeper's grace
-- period counts from when the row could first have been published.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    target      text NOT NULL CHECK (target IN ('work', 'results')),
    routing_key text NOT NULL,
    priority    smallint NOT NULL DEFAULT 0,
    kind        text NOT NULL,
    body        bytea NOT NULL
);
