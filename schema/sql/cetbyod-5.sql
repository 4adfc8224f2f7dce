-- cetbyod-5.sql - schema version 5 of cetbyod's state store: the index of
-- every session by its class id goes.
--
-- A new store runs cetbyod.sql, cetbyod-2.sql, cetbyod-3.sql, cetbyod-4.sql and then this
-- file; an older store is migrated by running the files it lacks, in the same transaction.
-- The conventions of cetbyod.sql hold here too.

-- sessions_class (cetbyod.sql) indexed every session, open or closed, by
-- its class id, 128 random bits: each accounting Start inserted into a leaf
-- page of it chosen at random, so each group commit wrote about as many
-- pages of it as it held Starts (bench/acctbench, 16 threads: 43 -> 30 us
-- of CPU per accounting write without it, four alternating pairs).  No
-- lookup needs it: a session is found by (nas, acct_session_id), and the
-- purge of old decisions asks for the class ids of open sessions only.
DROP INDEX sessions_class;
