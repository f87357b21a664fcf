-- Items finished by the workers, per minute, protocol and status: each
-- worker adds what it counted every few seconds, so that the operations
-- overview tells how many items finished in the last hour without counting
-- the large tables. The workers remove rows older than a day.
CREATE TABLE finished_tally (
    minute   timestamptz NOT NULL,
    protocol text NOT NULL,
    status   text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (minute, protocol, status)
);
