-- What the operations overview reads, without scanning the large tables:
-- the open work by age, and the recent errors by time.
CREATE INDEX taf_record_open_age ON taf_record (accepted_at)
    WHERE status IN ('pending', 'waiting');
CREATE INDEX taf_record_errors ON taf_record (finished_at) WHERE status = 'error';
CREATE INDEX eai_message_pending ON eai_message (accepted_at) WHERE status = 'pending';
CREATE INDEX eai_message_errors ON eai_message (processed_on) WHERE status = 'error';
CREATE INDEX process_execution_failed ON process_execution (finished_at)
    WHERE status = 'failed';
