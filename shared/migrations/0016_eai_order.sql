-- Entity writes in the producer's order. A message's place in that order is
-- its Header's GeneratedOn (when it reads as a date-time), or else the time
-- fila accepted it; ties are broken by `arrival`, a number given in
-- acceptance order (messages accepted before this migration have none and
-- count as 0). The entity store keeps the place of the version it holds
-- (none for rows written before this migration: any message replaces them),
-- and a deleted entity stays as a tombstone with the place of its delete,
-- so that an older message arriving late changes nothing.
CREATE SEQUENCE eai_arrival;
ALTER TABLE eai_message ADD COLUMN generated_on timestamptz;
ALTER TABLE eai_message ADD COLUMN arrival bigint;
ALTER TABLE eai_message ALTER COLUMN arrival SET DEFAULT nextval('eai_arrival');
ALTER TABLE eai_entity ADD COLUMN order_time timestamptz;
ALTER TABLE eai_entity ADD COLUMN order_arrival bigint;
ALTER TABLE eai_entity ADD COLUMN deleted boolean NOT NULL DEFAULT false;
