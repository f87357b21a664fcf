-- Queue messages that failed every attempt (or could not be decoded), kept
-- for operators to inspect, replay or discard. queue is the work queue's
-- routing key (taf, eai, process.<group>); history holds one entry per
-- failed attempt. A redelivered dead letter (its acknowledgement lost) is
-- recorded once, by (queue, message_id, attempts).
CREATE TABLE dead_letter (
    id         bigserial PRIMARY KEY,
    dead_at    timestamptz NOT NULL DEFAULT now(),
    queue      text NOT NULL,
    kind       text NOT NULL,
    message_id text,
    priority   smallint NOT NULL DEFAULT 0,
    body       bytea NOT NULL,
    reason     text NOT NULL,
    attempts   integer NOT NULL,
    history    jsonb NOT NULL,
    UNIQUE (queue, message_id, attempts)
);
CREATE INDEX dead_letter_queue ON dead_letter (queue, id);
