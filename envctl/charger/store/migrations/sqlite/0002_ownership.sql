-- Fleet-wide ownership: which replica holds each charger's current connection, under which epoch.
-- Every new connection takes the next epoch; writes are fenced by it (envctl/charger/store/fencing.py).
-- prev_replica_id / prev_open describe the owner this claim replaced, so the claim itself can tell
-- whether it took an open connection away from another replica (a takeover to announce).
CREATE TABLE charger_owners (
    charger_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    replica_id TEXT NOT NULL,
    connected_at TEXT NOT NULL,
    released_at TEXT,
    prev_replica_id TEXT,
    prev_open INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Each replica's admin API, so any replica can forward a charger's admin call to its owner.
CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    admin_url TEXT,
    version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    stopped_at TEXT
);

-- SQLite has no LISTEN/NOTIFY: a takeover is appended here in the claim's own transaction and the
-- previous owner polls for rows addressed to it. Writers are serialised (one file lock), so seq
-- order is commit order and a cursor never skips a row.
CREATE TABLE owner_takeovers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    replica_id TEXT NOT NULL,
    prev_replica_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX owner_takeovers_prev ON owner_takeovers (prev_replica_id, seq);

-- The connection epoch that wrote each transaction row (NULL: written unfenced, or before 0002).
ALTER TABLE transactions ADD COLUMN epoch INTEGER;
ALTER TABLE transaction_stops ADD COLUMN epoch INTEGER;
ALTER TABLE meter_values ADD COLUMN epoch INTEGER;
