-- Reconciliation (see the reconciler in the workers): when the work
-- message of each open item was last queued (written to the outbox: at
-- intake, at a release, a replay or a reconciliation), and the dead letter
-- holding it, if its message was dead-lettered. The partial indexes hold
-- only the open items whose message should be in a queue, by that time, so
-- that the reconciler reads the oldest of them without scanning a backlog.
ALTER TABLE taf_record ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE taf_record ADD COLUMN dead_letter_id bigint;
CREATE INDEX taf_record_queued ON taf_record (queued_at)
    WHERE status = 'pending' AND dead_letter_id IS NULL;

ALTER TABLE eai_message ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE eai_message ADD COLUMN dead_letter_id bigint;
CREATE INDEX eai_message_queued ON eai_message (queued_at)
    WHERE status = 'pending' AND dead_letter_id IS NULL;
-- A lot processed as one unit (a businessTransaction lot sent as a list)
-- has one work message for the whole lot.
ALTER TABLE eai_batch ADD COLUMN whole boolean NOT NULL DEFAULT false;
UPDATE eai_batch SET whole = true WHERE batch_type = 'businessTransaction';

ALTER TABLE process_execution ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE process_execution ADD COLUMN dead_letter_id bigint;
CREATE INDEX process_execution_queued ON process_execution (queued_at)
    WHERE status = 'waiting' AND claimed_until IS NULL AND dead_letter_id IS NULL;

-- Each work queue's probes: a probe is a message the reconciler sends
-- through the queue, marked with the time it was sent; a worker that takes
-- it records that time as drained_through (every message queued before it
-- has been delivered) and when it took it.
CREATE TABLE queue_drain (
    queue           text PRIMARY KEY,
    probe_sent_at   timestamptz,
    drained_through timestamptz,
    drained_at      timestamptz
);
