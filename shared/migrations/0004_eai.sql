-- EAI lots ("batches"): one row per POST or DELETE on /transactions.
CREATE TABLE eai_batch (
    id          text PRIMARY KEY,
    batch_type  text NOT NULL CHECK (batch_type IN ('simpleBatch', 'businessTransaction')),
    event       text NOT NULL CHECK (event IN ('upsert', 'delete')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- EAI messages, by their UUID: the same UUID is accepted once.
CREATE TABLE eai_message (
    uuid               text PRIMARY KEY,
    batch_id           text NOT NULL REFERENCES eai_batch (id),
    seq                integer NOT NULL,
    transaction        text NOT NULL,
    version            text NOT NULL,
    event              text NOT NULL,
    sub_type           text NOT NULL,
    source_application text NOT NULL,
    company_id         text,
    branch_id          text,
    sync               boolean NOT NULL DEFAULT false,
    key_style          text NOT NULL,
    header             jsonb NOT NULL,
    content            jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'error')),
    details            jsonb,
    return_content     jsonb,
    response_uuid      text,
    processed_on       timestamptz,
    -- An HTTP delivery in flight: who holds the message, and until when.
    claimed_by         text,
    claimed_until      timestamptz,
    worker             text,
    accepted_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eai_message_batch ON eai_message (batch_id, seq);

-- The entity store: the current version of each entity by Transaction and
-- InternalId. destination_id is fila's own id of the entity (the
-- Destination of ListOfInternalId), kept across updates.
CREATE TABLE eai_entity (
    transaction    text NOT NULL,
    internal_id    text NOT NULL,
    destination_id bigserial UNIQUE,
    version        text NOT NULL,
    content        jsonb NOT NULL,
    message_uuid   text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction, internal_id)
);
