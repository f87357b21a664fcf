-- TAF branch registry ("complemento de empresas"): sourceBranch -> group.
CREATE TABLE taf_branch (
    source_branch text PRIMARY KEY,
    company_group text NOT NULL,
    registration  text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per accepted TAF record (TAFST2); its id is the RecNo.
CREATE TABLE taf_record (
    id                 bigserial PRIMARY KEY,
    ticket_code        text NOT NULL,
    registry_key       text NOT NULL,
    company_group      text NOT NULL,
    source_branch      text NOT NULL,
    message_type       smallint NOT NULL,
    message_sequential text NOT NULL,
    registry_type      text NOT NULL,
    message            bytea NOT NULL,
    integration_date   text NOT NULL,
    integration_time   text NOT NULL,
    priority           smallint NOT NULL,
    integration_queue  text NOT NULL,
    erp_owner          text NOT NULL,
    predecessor_key    text,
    transfer_branch    text,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'waiting', 'processed', 'error')),
    status_code        text,
    status_description text,
    active             boolean,
    error_code         text,
    error_description  text,
    error_detail       text,
    worker             text,
    waiting_since      timestamptz,
    accepted_at        timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);

CREATE INDEX taf_record_ticket ON taf_record (ticket_code, id);
CREATE INDEX taf_record_key ON taf_record (registry_key, id);
-- 813: a registryKey is pending at most once per company group.
CREATE UNIQUE INDEX taf_record_open_key ON taf_record (company_group, registry_key)
    WHERE status IN ('pending', 'waiting');
-- Successors waiting for a predecessor, found when it is processed, and
-- by the sweep that looks at those that started waiting recently.
CREATE INDEX taf_record_waiting ON taf_record (company_group, predecessor_key)
    WHERE status = 'waiting';
CREATE INDEX taf_record_waiting_since ON taf_record (waiting_since)
    WHERE status = 'waiting';
