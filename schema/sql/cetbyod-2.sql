-- cetbyod-2.sql - schema version 2 of cetbyod's state store: the
-- exceptions register, the people the module knows (for reports and
-- reminders) and the reminders sent.
--
-- A new store runs cetbyod.sql (version 1) and then this file; a version 1
-- store is migrated by running this file, in the same transaction.  The
-- conventions of cetbyod.sql hold here too.

-- Exceptions to the policy, kept by IT with `cetbyodctl exception add`
-- (for example a pupil's medical monitoring phone).  An exception is in
-- force while ended_at IS NULL and now < until; it admits the person to
-- the restricted VLAN, on any device (mac = '') or on the one device whose
-- MAC it names (AA-BB-CC-DD-EE-FF).  Ended and lapsed ones are kept as
-- history until purged.
CREATE TABLE exceptions (
	id		INTEGER PRIMARY KEY,
	identity	TEXT NOT NULL,
	mac		TEXT NOT NULL DEFAULT '',
	reason		TEXT NOT NULL,
	approved_by	TEXT NOT NULL,
	granted_by	TEXT NOT NULL,			-- who ran the command
	granted_at	INTEGER NOT NULL,
	until		INTEGER NOT NULL,		-- exclusive end instant
	ended_by	TEXT NOT NULL DEFAULT '',
	ended_at	INTEGER				-- NULL unless IT ended it
);
CREATE UNIQUE INDEX exceptions_open ON exceptions (identity, mac) WHERE ended_at IS NULL;

-- The people the module knows: the directory's staff and exception holders
-- (listed every reports { refresh_interval }) or, without a directory, the
-- people who acknowledged; with what their acknowledgement says and what
-- the policy decides for them now.  Rebuilt by the module; read by
-- `cetbyodctl report` and the reminders.
CREATE TABLE people (
	identity	TEXT PRIMARY KEY NOT NULL,
	email		TEXT NOT NULL DEFAULT '',	-- where reminders go; '' when unknown
	role		TEXT NOT NULL DEFAULT '' CHECK (role IN ('', 'staff', 'pupil', 'other')),
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

-- Reminder emails: one row per (address, acknowledgement expiry, window),
-- so each is sent at most once per window.  result is 'sent' or 'failed'
-- (a permanent refusal); temporary failures leave no row and are retried.
CREATE TABLE reminders (
	id		INTEGER PRIMARY KEY,
	identity	TEXT NOT NULL,
	email		TEXT NOT NULL,
	ack_expiry	INTEGER NOT NULL,
	window_days	INTEGER NOT NULL,
	sent_at		INTEGER NOT NULL,
	result		TEXT NOT NULL CHECK (result IN ('sent', 'failed')),
	detail		TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX reminders_once ON reminders (email, ack_expiry, window_days);
CREATE INDEX reminders_sent_at ON reminders (sent_at);
