-- Response messages delivered back to the application that sent the
-- message (its `[[eai_sources]]` callback), as the asynchronous EAI flow
-- does. `callback`: NULL when the source has none; 'awaiting' until the
-- message is processed; 'pending' while its delivery is queued; then
-- 'delivered', 'refused' (a 4xx) or 'discarded' (its dead letter was).
ALTER TABLE eai_message ADD COLUMN callback text;
ALTER TABLE eai_message ADD COLUMN callback_detail text;
ALTER TABLE eai_message ADD COLUMN callback_at timestamptz;

-- Response messages received on /transactions (Header Type Response): what
-- a destination answering asynchronously sends back, matched to the
-- message it answers by its ReceivedMessage UUID.
CREATE TABLE eai_answer (
    uuid               text PRIMARY KEY,
    message_uuid       text NOT NULL,
    source_application text,
    status             text,
    body               jsonb NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eai_answer_message ON eai_answer (message_uuid);
