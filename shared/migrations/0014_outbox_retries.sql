-- Each row's message carries a UUID as its AMQP message_id, unique across
-- the database's history (the row's sequence number is issued again after
-- a restore or a failover, for other messages).
ALTER TABLE outbox ADD COLUMN message_id uuid NOT NULL DEFAULT gen_random_uuid();
-- A row the broker refused (nack, no queue bound) or did not confirm in
-- time stays, with its attempts, its last error and when it may be tried
-- again, while the rows around it are published.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN retry_at timestamptz;
