-- What the operations lists read: the recent EAI lots in order of
-- creation (paged by created_at and id), and the lots with messages still
-- pending.
CREATE INDEX eai_batch_created ON eai_batch (created_at, id);
CREATE INDEX eai_message_open_batch ON eai_message (batch_id) WHERE status = 'pending';
