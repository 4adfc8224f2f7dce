-- cetbyod-4.sql - schema version 4 of cetbyod's state store: the devices
-- seen for each person (device limits, the sharing report) and IT's
-- clearing of them.
--
-- A new store runs cetbyod.sql, cetbyod-2.sql, cetbyod-3.sql and then this file; an older
-- store is migrated by running the files it lacks, in the same transaction.
-- The conventions of cetbyod.sql hold here too.

-- One row per (person, device) the module admitted, or held back by policy
-- { max_devices }: mac is the Calling-Station-Id as AA-BB-CC-DD-EE-FF.
-- counted is 1 once the device limit let the device in (it is then one of
-- the person's known devices while last_seen is within policy {
-- device_window }), 0 while the limit holds it back.  last_seen is kept to
-- the hour (the module writes it at most hourly per device); nas is where
-- it was last seen.  `cetbyodctl devices forget` deletes rows.
CREATE TABLE devices (
	identity	TEXT NOT NULL,
	mac		TEXT NOT NULL CHECK (length(mac) = 17),
	first_seen	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL,
	nas		TEXT NOT NULL DEFAULT '',
	counted		INTEGER NOT NULL DEFAULT 1 CHECK (counted IN (0, 1)),
	PRIMARY KEY (identity, mac)
) WITHOUT ROWID;
CREATE INDEX devices_last_seen ON devices (last_seen);

-- `cetbyodctl devices forget`: who cleared whose devices, and why.  The
-- module copies each row into the audit trail (type devices_forget).
CREATE TABLE device_forgets (
	id		INTEGER PRIMARY KEY,
	identity	TEXT NOT NULL,
	mac		TEXT NOT NULL DEFAULT '',	-- '' for all of the person's devices
	reason		TEXT NOT NULL,
	forgotten_by	TEXT NOT NULL,
	forgotten_at	INTEGER NOT NULL,
	removed		INTEGER NOT NULL DEFAULT 0	-- devices removed
);
