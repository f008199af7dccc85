"""One group-commit batch on PostgreSQL: set-based statements in the order fencing.py describes.

Each batch is a handful of statements whatever its size: rows travel as arrays and are expanded
with unnest(), so a batch of 500 StartTransactions is one round trip, not 500.

The owner rows of every charger the batch touches are locked first (FOR NO KEY UPDATE, in
charger-id order): a claim by another replica for one of those chargers then waits until this
batch commits, so it is ordered after every write this replica made under the old epoch, and
two replicas' batches take their locks in the same order and never deadlock. Takeovers are
announced with NOTIFY on the previous owner's own channel, inside the claim's transaction, so
they are delivered exactly when the claim commits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import asyncpg

from envctl.charger.store import fencing
from envctl.charger.store.base import (
    BOOT,
    CLAIM,
    LAZY,
    METER,
    REPLICA,
    START,
    STOP,
    STOP_STORED,
    MeterSample,
    Pending,
    ReplicaInfo,
    StartRecord,
    Superseded,
    Takeover,
    group,
)
from envctl.charger.store.fencing import BatchResult, Outcome, decide_stop

NOTIFY_PAYLOAD_MAX = 7_900  # PostgreSQL's limit is 8,000 bytes per notification payload

_REPLICA_SQL = """
INSERT INTO replicas (replica_id, admin_url, version, started_at, stopped_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (replica_id) DO UPDATE SET admin_url = EXCLUDED.admin_url, version = EXCLUDED.version,
    started_at = EXCLUDED.started_at, stopped_at = EXCLUDED.stopped_at
"""
_LOCK_OWNERS_SQL = """
SELECT charger_id, epoch FROM charger_owners WHERE charger_id = ANY($1::text[]) ORDER BY charger_id FOR NO KEY UPDATE
"""
_CLAIM_SQL = """
INSERT INTO charger_owners (charger_id, epoch, replica_id, connected_at)
SELECT v.c, 1, $2, v.at FROM unnest($1::text[], $3::timestamptz[]) AS v(c, at) ORDER BY v.c
ON CONFLICT (charger_id) DO UPDATE SET epoch = charger_owners.epoch + 1, replica_id = EXCLUDED.replica_id,
    connected_at = EXCLUDED.connected_at, released_at = NULL,
    prev_replica_id = charger_owners.replica_id, prev_open = (charger_owners.released_at IS NULL)
RETURNING charger_id, epoch, replica_id, prev_replica_id, prev_open
"""
_BOOT_SQL = """
INSERT INTO chargers (id, vendor, model, serial_number, firmware_version, boot_payload, boot_count,
                      first_boot_at, last_boot_at, last_seen_at, replica_id)
SELECT v.id, v.vendor, v.model, v.serial, v.fw, v.payload::jsonb, 1, v.at, v.at, v.at, $7
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::timestamptz[])
     AS v(id, vendor, model, serial, fw, payload, at)
ON CONFLICT (id) DO UPDATE SET vendor = EXCLUDED.vendor, model = EXCLUDED.model,
    serial_number = EXCLUDED.serial_number, firmware_version = EXCLUDED.firmware_version,
    boot_payload = EXCLUDED.boot_payload, boot_count = chargers.boot_count + 1,
    last_boot_at = EXCLUDED.last_boot_at, last_seen_at = EXCLUDED.last_seen_at, replica_id = EXCLUDED.replica_id
"""
# DO UPDATE (a no-op change) rather than DO NOTHING so RETURNING also yields rows that existed.
_START_SQL = """
INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start, started_at, reservation_id, replica_id, epoch)
SELECT v.c, v.conn, v.tag, v.m, v.at, v.res, $7, v.epoch
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $8::bigint[])
     AS v(c, conn, tag, m, at, res, epoch)
ON CONFLICT (charger_id, connector_id, id_tag, meter_start, started_at) DO UPDATE SET charger_id = EXCLUDED.charger_id
RETURNING id, charger_id, connector_id, id_tag, meter_start, started_at
"""
_STOP_TARGETS_SQL = """
SELECT t.id, t.charger_id, t.connector_id, s.transaction_id IS NOT NULL AS stopped
FROM transactions t LEFT JOIN transaction_stops s ON s.transaction_id = t.id WHERE t.id = ANY($1::int[])
"""
_STOP_SQL = """
INSERT INTO transaction_stops (transaction_id, charger_id, id_tag, meter_stop, stopped_at, reason, epoch)
SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::bigint[])
ON CONFLICT (transaction_id) DO NOTHING
"""
_METER_SQL = """
INSERT INTO meter_values (charger_id, connector_id, transaction_id, ts, measurand, phase, location, context, unit, value,
                          epoch)
SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::bigint[])
ON CONFLICT DO NOTHING
"""
_SEEN_SQL = """
UPDATE chargers c SET last_seen_at = v.at FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE c.id = v.id
"""
# A status from a superseded connection is dropped: the join keeps rows whose epoch is current.
_STATUS_SQL = """
INSERT INTO connector_status (charger_id, connector_id, status, error_code, info, updated_at)
SELECT v.c, v.k, v.st, v.err, v.info, v.at
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[])
     AS v(c, k, st, err, info, at, epoch)
LEFT JOIN charger_owners o ON o.charger_id = v.c
WHERE v.epoch IS NULL OR o.epoch = v.epoch
ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
    info = EXCLUDED.info, updated_at = EXCLUDED.updated_at
"""
_RELEASE_SQL = """
UPDATE charger_owners o SET released_at = v.at FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS v(id, epoch, at)
WHERE o.charger_id = v.id AND o.epoch = v.epoch
"""


def takeover_channel(replica_id: str) -> str:
    """The NOTIFY channel a replica listens on for takeovers of its chargers (a valid identifier)."""
    return "envctl_takeover_" + hashlib.sha256(replica_id.encode()).hexdigest()[:24]


def notify_payloads(takeovers: list[Takeover]) -> list[tuple[str, str]]:
    """(channel, payload) pairs: one line per takeover, 'charger<TAB>epoch<TAB>new owner', chunked."""
    out: list[tuple[str, str]] = []
    by_prev: dict[str, list[str]] = {}
    for t in takeovers:
        by_prev.setdefault(t.previous_replica_id, []).append(f"{t.charger_id}\t{t.epoch}\t{t.replica_id}")
    for prev, lines in by_prev.items():
        chunk: list[str] = []
        size = 0
        for line in lines:
            if chunk and size + len(line.encode()) + 1 > NOTIFY_PAYLOAD_MAX:
                out.append((takeover_channel(prev), "\n".join(chunk)))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line.encode()) + 1
        if chunk:
            out.append((takeover_channel(prev), "\n".join(chunk)))
    return out


def parse_payload(payload: str, previous: str) -> list[Takeover]:
    out = []
    for line in payload.splitlines():
        cid, epoch, owner = line.split("\t")
        out.append(Takeover(cid, int(epoch), owner, previous))
    return out


async def apply_batch(conn: asyncpg.Connection, batch: list[Pending], replica_id: str | None) -> BatchResult:
    by_kind = group(batch)
    refused: dict[int, Outcome] = {}
    value: dict[int, Any] = {}
    result = BatchResult(outcomes=[])

    for p in by_kind[REPLICA]:
        info: ReplicaInfo = p.item
        await conn.execute(_REPLICA_SQL, info.replica_id, info.admin_url, info.version, info.started_at, info.stopped_at)

    touched = fencing.touched_chargers(by_kind)
    current: dict[str, int] = {}
    if touched:
        current = {r["charger_id"]: int(r["epoch"]) for r in await conn.fetch(_LOCK_OWNERS_SQL, touched)}
    claims = fencing.split_claims(by_kind[CLAIM])
    for p in claims.beaten:
        refused[id(p)] = (False, Superseded(p.item.charger_id, None, None))
    if claims.winners:
        winners = sorted(claims.winners.items())
        rows = await conn.fetch(_CLAIM_SQL, [cid for cid, _ in winners], winners[0][1].item.replica_id,
                                [p.item.connected_at for _, p in winners])
        for r in rows:
            cid, epoch = r["charger_id"], int(r["epoch"])
            current[cid] = epoch
            p = claims.winners[cid]
            result.claimed[p.item] = epoch
            value[id(p)] = epoch
            if r["prev_open"] and r["prev_replica_id"] and r["prev_replica_id"] != r["replica_id"]:
                result.takeovers.append(Takeover(cid, epoch, r["replica_id"], r["prev_replica_id"]))
        for channel, payload in notify_payloads(result.takeovers):
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    def admitted(kind: str) -> list[Pending]:
        return fencing.admitted(by_kind[kind], current, result.claimed, refused)

    boot_ps = admitted(BOOT)
    if boot_ps:
        boots = list({p.item.charger_id: p.item for p in boot_ps}.values())  # one row per charger
        await conn.execute(
            _BOOT_SQL,
            [b.charger_id for b in boots], [b.vendor for b in boots], [b.model for b in boots],
            [b.serial_number for b in boots], [b.firmware_version for b in boots],
            [json.dumps(b.payload) for b in boots], replica_id, [b.at for b in boots],
        )
    start_ps = admitted(START)
    if start_ps:
        # ON CONFLICT DO UPDATE may touch a row once per statement: send each key once.
        starts: dict[tuple[Any, ...], tuple[StartRecord, int | None]] = {}
        for p in start_ps:
            starts.setdefault(p.item.key(), (p.item, fencing.epoch_of(p, result.claimed)))
        items = list(starts.values())
        rows = await conn.fetch(
            _START_SQL,
            [s.charger_id for s, _ in items], [s.connector_id for s, _ in items], [s.id_tag for s, _ in items],
            [s.meter_start for s, _ in items], [s.started_at for s, _ in items],
            [s.reservation_id for s, _ in items], replica_id, [e for _, e in items],
        )
        ids = {(r["charger_id"], r["connector_id"], r["id_tag"], r["meter_start"], r["started_at"]): r["id"]
               for r in rows}
        for p in start_ps:
            value[id(p)] = int(ids[p.item.key()])
    samples: list[tuple[MeterSample, int | None]] = []
    stop_ps = admitted(STOP)
    if stop_ps:
        found = await conn.fetch(_STOP_TARGETS_SQL, sorted({p.item.transaction_id for p in stop_ps}))
        targets = {int(r["id"]): (r["charger_id"], int(r["connector_id"]), bool(r["stopped"])) for r in found}
        stored = []
        for p in stop_ps:
            verdict, connector = decide_stop(p.item, targets)
            value[id(p)] = verdict
            if verdict == STOP_STORED:
                epoch = fencing.epoch_of(p, result.claimed)
                stored.append((p.item, epoch))
                for m in p.item.samples:
                    m.connector_id = connector
                    samples.append((m, epoch))
        if stored:
            await conn.execute(
                _STOP_SQL,
                [s.transaction_id for s, _ in stored], [s.charger_id for s, _ in stored],
                [s.id_tag for s, _ in stored], [s.meter_stop for s, _ in stored],
                [s.stopped_at for s, _ in stored], [s.reason for s, _ in stored], [e for _, e in stored],
            )
    samples += [(m, fencing.epoch_of(p, result.claimed)) for p in admitted(METER) for m in p.item]
    if samples:
        ms = [m for m, _ in samples]
        await conn.execute(
            _METER_SQL,
            [m.charger_id for m in ms], [m.connector_id for m in ms], [m.transaction_id for m in ms],
            [m.ts for m in ms], [m.measurand for m in ms], [m.phase for m in ms], [m.location for m in ms],
            [m.context for m in ms], [m.unit for m in ms], [m.value for m in ms], [e for _, e in samples],
        )
    for p in by_kind[LAZY]:
        await _apply_lazy(conn, p.item)
    result.outcomes = [refused.get(id(p), (True, value.get(id(p)))) for p in batch]
    return result


async def _apply_lazy(conn: asyncpg.Connection, flush: Any) -> None:
    if flush.seen:
        await conn.execute(_SEEN_SQL, list(flush.seen.keys()), list(flush.seen.values()))
    if flush.statuses:
        st = flush.statuses
        await conn.execute(
            _STATUS_SQL,
            [s.charger_id for s, _ in st], [s.connector_id for s, _ in st], [s.status for s, _ in st],
            [s.error_code for s, _ in st], [s.info for s, _ in st], [s.at for s, _ in st], [e for _, e in st],
        )
    if flush.releases:
        rel = flush.releases
        await conn.execute(_RELEASE_SQL, [r[0] for r in rel], [r[1] for r in rel], [r[2] for r in rel])
