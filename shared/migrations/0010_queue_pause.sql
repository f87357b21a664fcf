-- Work queues an operator paused: the workers stop consuming them until
-- the row is removed.
CREATE TABLE queue_pause (
    queue     text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text NOT NULL
);
