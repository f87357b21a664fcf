-- Work messages the broker delivered again (their worker may have died
-- while handling them): each start of their handling is counted here
-- before it begins, and the row goes once the handling ends, whatever its
-- outcome. A message whose handling started worker_max_attempts times
-- without ending is dead-lettered instead of handled again.
CREATE TABLE delivery (
    message_id text PRIMARY KEY,
    queue      text NOT NULL,
    starts     integer NOT NULL,
    -- One entry per start: {"at", "worker"}.
    history    jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- A process execution claimed again after its lease ran out (its worker
-- died or stopped while running it) counts its claims, so that a run
-- that kills its worker does not go round for ever.
ALTER TABLE process_execution ADD COLUMN claims integer NOT NULL DEFAULT 0;
