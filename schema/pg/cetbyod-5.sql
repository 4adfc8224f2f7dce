-- cetbyod-5.sql - schema version 5 of cetbyod's state store on PostgreSQL,
-- as schema/sql/cetbyod-5.sql: the index of every session by its class id
-- goes (no lookup needs it; each accounting Start inserted into it at a
-- random place).  Run after cetbyod.sql (version 4) on a new store, and on
-- an older one by the first server of the new version to connect.
DROP INDEX IF EXISTS sessions_class;
