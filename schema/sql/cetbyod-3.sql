-- cetbyod-3.sql - schema version 3 of cetbyod's state store: the roles
-- beyond employees (governors, volunteers, contractors: the module's
-- roles { } section).
--
-- A new store runs cetbyod.sql, cetbyod-2.sql and then this file; an older
-- store is migrated by running the files it lacks, in one transaction.
-- The conventions of cetbyod.sql hold here too.

-- The role a decision was made under: 'staff' (employees) or the name of a
-- roles { } entry ('' for decisions made before version 3, read as
-- employees).  A session is decided again under its role's policy when the
-- acknowledgements change.
ALTER TABLE decisions ADD COLUMN role TEXT NOT NULL DEFAULT '';

-- people.role held only '', 'staff', 'pupil' and 'other'; it now also
-- holds a role's name (a-z, 0-9, '_', '-', at most 32 bytes, starting with
-- a letter).  SQLite cannot change a CHECK, so the table is copied.
CREATE TABLE people_v3 (
	identity	TEXT PRIMARY KEY NOT NULL,
	email		TEXT NOT NULL DEFAULT '',	-- where reminders go; '' when unknown
	role		TEXT NOT NULL DEFAULT '' CHECK (length(role) <= 32 AND role NOT GLOB '*[^a-z0-9_-]*'),
	disabled	INTEGER NOT NULL DEFAULT 0,
	exception_reason TEXT NOT NULL DEFAULT '',	-- a directory-held exception
	exception_approved_by TEXT NOT NULL DEFAULT '',
	exception_until	INTEGER NOT NULL DEFAULT 0,
	ack_time	INTEGER NOT NULL DEFAULT 0,	-- the acknowledgement on record; 0: none
	ack_expiry	INTEGER NOT NULL DEFAULT 0,	-- when it lapses; 0: never or none
	ack_revoked	INTEGER NOT NULL DEFAULT 0,
	policy_version	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL DEFAULT '',	-- what the policy decides now (without devices)
	reason		TEXT NOT NULL DEFAULT '',
	refreshed_at	INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO people_v3 SELECT identity, email, role, disabled, exception_reason, exception_approved_by,
	exception_until, ack_time, ack_expiry, ack_revoked, policy_version, status, reason, refreshed_at FROM people;
DROP TABLE people;
ALTER TABLE people_v3 RENAME TO people;
