-- A schedule runs in a time zone (an IANA name): its quartzDef, startDate
-- and endDate are wall-clock times there. Schedules made before ran in UTC.
ALTER TABLE process_job ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
-- Each execution is the one element of its process's run, with a UId of
-- its own: Creatio's ExecProcElByUId runs it now when it waits.
ALTER TABLE process_execution ADD COLUMN element_uid text NOT NULL DEFAULT gen_random_uuid()::text;
CREATE UNIQUE INDEX process_execution_element ON process_execution (element_uid);
