-- The W3C trace context of the transaction that wrote the row, so that the
-- published message continues its trace (NULL when traces are off).
ALTER TABLE outbox ADD COLUMN traceparent text;
