-- Timestamps are UTC ISO-8601 text with microseconds ('2024-01-01T00:00:00.000000Z'), so text
-- order is time order and the idempotency keys compare exactly.
CREATE TABLE chargers (
    id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    model TEXT NOT NULL,
    serial_number TEXT,
    firmware_version TEXT,
    boot_payload TEXT NOT NULL,
    boot_count INTEGER NOT NULL DEFAULT 1,
    first_boot_at TEXT NOT NULL,
    last_boot_at TEXT NOT NULL,
    last_seen_at TEXT,
    replica_id TEXT
);

CREATE TABLE connector_status (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

-- AUTOINCREMENT: ids are never reused, even after deletes; they are the OCPP transactionId and
-- come from the database so several replicas sharing this file never hand out the same one.
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    reservation_id INTEGER,
    created_at TEXT NOT NULL,
    replica_id TEXT,
    -- a StartTransaction re-sent after a reconnect maps onto the same row (and id)
    UNIQUE (charger_id, connector_id, id_tag, meter_start, started_at)
);
CREATE INDEX transactions_charger ON transactions (charger_id);

-- One row per stopped transaction: a repeated StopTransaction is stored once.
CREATE TABLE transaction_stops (
    transaction_id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    id_tag TEXT,
    meter_stop INTEGER NOT NULL,
    stopped_at TEXT NOT NULL,
    reason TEXT,
    created_at TEXT NOT NULL
);

-- Optional fields are '' / 0 rather than NULL: NULLs are distinct in UNIQUE constraints and would
-- let duplicates through.
CREATE TABLE meter_values (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    ts TEXT NOT NULL,
    measurand TEXT NOT NULL,
    phase TEXT NOT NULL,
    location TEXT NOT NULL,
    context TEXT NOT NULL,
    unit TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (charger_id, connector_id, transaction_id, ts, measurand, phase, location, context)
);
