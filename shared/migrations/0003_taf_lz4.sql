-- TAF messages, and outbox bodies, are compressed with lz4 where the server
-- was built with it: pglz, the default, was PostgreSQL's costliest function
-- in the benchmark's profile of intake (see BENCHMARKS.md).
DO $$
BEGIN
    ALTER TABLE taf_record ALTER COLUMN message SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: the default compression stays';
END $$;
