-- claimed_until of an execution is the end of its worker's lease while it
-- runs, and when a retry waiting for its backoff is due; the sweeper finds
-- both when they pass.
CREATE INDEX process_execution_due ON process_execution (claimed_until)
    WHERE status IN ('waiting', 'running') AND claimed_until IS NOT NULL;
