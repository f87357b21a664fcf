-- Jobs: a named process with its parameters, run once or on a schedule.
-- Its id is the JobID of wsProcess; uid is the robustaSpid of the
-- scheduler API and the processId of Creatio.
CREATE TABLE process_job (
    id             bigserial PRIMARY KEY,
    uid            text NOT NULL UNIQUE,
    process        text NOT NULL,
    parameters     jsonb NOT NULL,
    worker_group   text NOT NULL,
    retry_count    integer NOT NULL,
    -- Executions made so far: the last ExecID.
    executions     integer NOT NULL DEFAULT 0,
    cron           text,
    starts_at      timestamptz,
    ends_at        timestamptz,
    run_once       boolean NOT NULL DEFAULT false,
    schedule_state text CHECK (schedule_state IN ('active', 'paused', 'ended')),
    next_fire      timestamptz,
    fires          integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX process_job_due ON process_job (next_fire) WHERE schedule_state = 'active';

-- Executions of a job (ExecID): one per run, retry or scheduled fire.
CREATE TABLE process_execution (
    job_id        bigint NOT NULL REFERENCES process_job (id) ON DELETE CASCADE,
    exec_id       integer NOT NULL,
    fire          integer NOT NULL,
    attempt       integer NOT NULL,
    status        text NOT NULL DEFAULT 'waiting'
                  CHECK (status IN ('waiting', 'running', 'succeeded', 'failed', 'cancelled')),
    progress      integer NOT NULL DEFAULT -1,
    message       text NOT NULL DEFAULT '',
    outputs       jsonb,
    sync          boolean NOT NULL DEFAULT false,
    worker        text,
    claimed_until timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (job_id, exec_id)
);
CREATE INDEX process_execution_open ON process_execution (job_id)
    WHERE status IN ('waiting', 'running');
