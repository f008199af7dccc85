-- Fleet-wide ownership: which replica holds each charger's current connection, under which epoch.
-- Every new connection takes the next epoch; writes are fenced by it (envctl/charger/store/fencing.py).
-- prev_replica_id / prev_open describe the owner this claim replaced, so the claim itself can tell
-- whether it took an open connection away from another replica (announced with NOTIFY).
CREATE TABLE charger_owners (
    charger_id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    replica_id TEXT NOT NULL,
    connected_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    prev_replica_id TEXT,
    prev_open BOOLEAN NOT NULL DEFAULT false
);

-- Each replica's admin API, so any replica can forward a charger's admin call to its owner.
CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    admin_url TEXT,
    version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    stopped_at TIMESTAMPTZ
);

-- The connection epoch that wrote each transaction row (NULL: written unfenced, or before 0002).
ALTER TABLE transactions ADD COLUMN epoch BIGINT;
ALTER TABLE transaction_stops ADD COLUMN epoch BIGINT;
ALTER TABLE meter_values ADD COLUMN epoch BIGINT;
