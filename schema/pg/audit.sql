-- audit.sql - the audit index in cetbyod's PostgreSQL store: the same
-- table as schema/sql/audit.sql (whose comments explain it), a copy of the
-- hash-chained audit trail indexed for cetbyodctl's queries.  lib/store/pg.c
-- runs it when the audit trail first attaches.  Every statement is
-- idempotent.  "by" is quoted (a reserved word here).  server_id: the
-- RADIUS server whose trail holds the record ('' on one server); each
-- server keeps its own chain, so a record is keyed by (server_id, seq),
-- and a server's last record and counts are its own.

CREATE TABLE IF NOT EXISTS audit (
	seq		BIGINT NOT NULL,		-- the record's seq in its server's chain
	time		BIGINT NOT NULL,
	type		TEXT NOT NULL,			-- decision, session_start, ...
	identity	TEXT NOT NULL DEFAULT '',
	outer_identity	TEXT NOT NULL DEFAULT '',
	calling_station	TEXT NOT NULL DEFAULT '',
	mac		TEXT NOT NULL DEFAULT '',
	nas		TEXT NOT NULL DEFAULT '',
	ap		TEXT NOT NULL DEFAULT '',
	ssid		TEXT NOT NULL DEFAULT '',
	framed_ip	TEXT NOT NULL DEFAULT '',
	acct_session_id	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL DEFAULT '',
	reason		TEXT NOT NULL DEFAULT '',
	"by"		TEXT NOT NULL DEFAULT '',
	session_start	BIGINT,
	session_stop	BIGINT,
	hash		TEXT NOT NULL CHECK (length(hash) = 64),
	record		TEXT NOT NULL,			-- the whole line, as written to the file
	server_id	TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (server_id, seq)
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_identity ON audit (identity, time);
CREATE INDEX IF NOT EXISTS audit_mac ON audit (mac, time);
CREATE INDEX IF NOT EXISTS audit_framed_ip ON audit (framed_ip, time);
CREATE INDEX IF NOT EXISTS audit_nas ON audit (nas, time);
CREATE INDEX IF NOT EXISTS audit_ssid ON audit (ssid, time);
CREATE INDEX IF NOT EXISTS audit_session ON audit (nas, acct_session_id);

-- The administrative actions the trail holds, by a reference that names the
-- row and the instant: "revocation:<id>:revoke:<revoked_at>",
-- "revocation:<id>:reinstate:<reinstated_at>", "exception:<id>:grant:<granted_at>",
-- "exception:<id>:end:<instant>".  cetbyodctl makes these changes in the
-- store, not in the trail; the module records each change it finds here
-- missing, and the writer adds its reference in the same transaction as the
-- record, after the file holds it.  So each action is recorded once, whether
-- made in the same second as another or while radiusd was down (issue 15,
-- item 6).  Not purged: one short row per action, no personal data.
CREATE TABLE IF NOT EXISTS audit_refs (
	ref		TEXT PRIMARY KEY NOT NULL,
	seq		BIGINT NOT NULL		-- the record that holds it
);
