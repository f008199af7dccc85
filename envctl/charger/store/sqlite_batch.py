"""One group-commit batch on SQLite: the statements and the order they run in (see fencing.py).

Every statement below is multi-row: the sqlite3 module releases the GIL around each
sqlite3_step() and must win it back from the busy event loop afterwards (up to a 5 ms switch
interval each time). executemany() steps once per row, so a batch of 500 rows could wait 500
times; one multi-row statement steps once. Results come back as one JSON row for the same reason.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from envctl.charger.store import fencing
from envctl.charger.store.fencing import BatchResult, Outcome, decide_stop
from envctl.charger.store.base import (
    BOOT,
    CLAIM,
    LAZY,
    METER,
    REPLICA,
    START,
    STOP,
    STOP_STORED,
    BootRecord,
    MeterSample,
    Pending,
    ReplicaInfo,
    StartRecord,
    StatusRecord,
    StopRecord,
    Superseded,
    format_ts,
    group,
    utcnow,
)

MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32

_REPLICA_SQL = """INSERT INTO replicas (replica_id, admin_url, version, started_at, stopped_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (replica_id) DO UPDATE SET admin_url = excluded.admin_url, version = excluded.version,
    started_at = excluded.started_at, stopped_at = excluded.stopped_at"""
_CLAIM_HEAD = "INSERT INTO charger_owners (charger_id, epoch, replica_id, connected_at) VALUES "
_CLAIM_ROW = "(?, 1, ?, ?)"
_CLAIM_TAIL = """ ON CONFLICT (charger_id) DO UPDATE SET epoch = charger_owners.epoch + 1,
    replica_id = excluded.replica_id, connected_at = excluded.connected_at, released_at = NULL,
    prev_replica_id = charger_owners.replica_id, prev_open = (charger_owners.released_at IS NULL)"""
_OWNERS_SQL = """SELECT json_group_array(json_array(charger_id, epoch, replica_id, prev_replica_id, prev_open))
FROM charger_owners WHERE charger_id IN (SELECT value FROM json_each(?))"""
_TAKEOVER_HEAD = "INSERT INTO owner_takeovers (charger_id, epoch, replica_id, prev_replica_id, at) VALUES "
_TAKEOVER_ROW = "(?, ?, ?, ?, ?)"

_BOOT_HEAD = """INSERT INTO chargers (id, vendor, model, serial_number, firmware_version, boot_payload, boot_count,
                      first_boot_at, last_boot_at, last_seen_at, replica_id) VALUES """
_BOOT_ROW = "(?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
_BOOT_TAIL = """ ON CONFLICT (id) DO UPDATE SET vendor = excluded.vendor, model = excluded.model,
    serial_number = excluded.serial_number, firmware_version = excluded.firmware_version,
    boot_payload = excluded.boot_payload, boot_count = chargers.boot_count + 1,
    last_boot_at = excluded.last_boot_at, last_seen_at = excluded.last_seen_at, replica_id = excluded.replica_id"""
_START_HEAD = """INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start, started_at, reservation_id,
                          created_at, replica_id, epoch) VALUES """
_START_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_START_TAIL = " ON CONFLICT (charger_id, connector_id, id_tag, meter_start, started_at) DO NOTHING"
# The ids of the rows just inserted *or already there* (a resend), as one JSON array.
_START_IDS_HEAD = """SELECT json_group_array(json_array(t.id, t.charger_id, t.connector_id, t.id_tag, t.meter_start,
                                         t.started_at))
FROM (SELECT column1 AS c, column2 AS k, column3 AS tag, column4 AS m, column5 AS s FROM (VALUES """
_START_IDS_ROW = "(?, ?, ?, ?, ?)"
_START_IDS_TAIL = """)) AS v
JOIN transactions t ON t.charger_id = v.c AND t.connector_id = v.k AND t.id_tag = v.tag AND t.meter_start = v.m
                   AND t.started_at = v.s"""
# What a stop names: whose transaction it is, on which connector, and whether it is stopped already.
_STOP_TARGETS_SQL = """SELECT json_group_array(json_array(t.id, t.charger_id, t.connector_id, s.transaction_id IS NOT NULL))
FROM transactions t LEFT JOIN transaction_stops s ON s.transaction_id = t.id
WHERE t.id IN (SELECT value FROM json_each(?))"""
_STOP_HEAD = """INSERT INTO transaction_stops (transaction_id, charger_id, id_tag, meter_stop, stopped_at, reason,
                               created_at, epoch) VALUES """
_STOP_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_STOP_TAIL = " ON CONFLICT (transaction_id) DO NOTHING"
_METER_HEAD = """INSERT INTO meter_values (charger_id, connector_id, transaction_id, ts, measurand, phase, location,
                          context, unit, value, epoch) VALUES """
_METER_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_METER_TAIL = " ON CONFLICT DO NOTHING"
_SEEN_HEAD = """UPDATE chargers SET last_seen_at = v.ts
FROM (SELECT column1 AS id, column2 AS ts FROM (VALUES """
_SEEN_ROW = "(?, ?)"
_SEEN_TAIL = ")) AS v WHERE chargers.id = v.id"
# A status from a superseded connection is dropped: the join keeps rows whose epoch is current.
_STATUS_HEAD = """INSERT INTO connector_status (charger_id, connector_id, status, error_code, info, updated_at)
SELECT v.c, v.k, v.st, v.err, v.info, v.at FROM (SELECT column1 AS c, column2 AS k, column3 AS st, column4 AS err,
    column5 AS info, column6 AS at, column7 AS epoch FROM (VALUES """
_STATUS_ROW = "(?, ?, ?, ?, ?, ?, ?)"
_STATUS_TAIL = """)) AS v LEFT JOIN charger_owners o ON o.charger_id = v.c
WHERE v.epoch IS NULL OR o.epoch = v.epoch
ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = excluded.status,
    error_code = excluded.error_code, info = excluded.info, updated_at = excluded.updated_at"""
_RELEASE_HEAD = """UPDATE charger_owners SET released_at = v.at
FROM (SELECT column1 AS id, column2 AS epoch, column3 AS at FROM (VALUES """
_RELEASE_ROW = "(?, ?, ?)"
_RELEASE_TAIL = ")) AS v WHERE charger_owners.charger_id = v.id AND charger_owners.epoch = v.epoch"

def _many(conn: sqlite3.Connection, head: str, row: str, tail: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Run head + row,row,... + tail over `rows` in as few statements as the variable limit allows."""
    if not rows:
        return []
    per = max(1, MAX_VARIABLES // len(rows[0]))
    out: list[Any] = []
    for i in range(0, len(rows), per):
        chunk = rows[i: i + per]
        cur = conn.execute(head + ",".join([row] * len(chunk)) + tail, [v for r in chunk for v in r])
        out.append(cur.fetchone() if cur.description else None)
    return out


def _json_rows(conn: sqlite3.Connection, sql: str, keys: list[Any]) -> list[list[Any]]:
    if not keys:
        return []
    return json.loads(conn.execute(sql, (json.dumps(keys),)).fetchone()[0])  # type: ignore[no-any-return]


def apply_batch(conn: sqlite3.Connection, batch: list[Pending], replica_id: str | None) -> BatchResult:
    by_kind = group(batch)
    now = format_ts(utcnow())
    refused: dict[int, Outcome] = {}
    value: dict[int, Any] = {}
    result = BatchResult(outcomes=[])

    for p in by_kind[REPLICA]:
        info: ReplicaInfo = p.item
        conn.execute(_REPLICA_SQL, (info.replica_id, info.admin_url, info.version, format_ts(info.started_at),
                                    format_ts(info.stopped_at) if info.stopped_at else None))

    claims = fencing.split_claims(by_kind[CLAIM])
    for p in claims.beaten:
        refused[id(p)] = (False, Superseded(p.item.charger_id, None, None))
    _many(conn, _CLAIM_HEAD, _CLAIM_ROW, _CLAIM_TAIL, [
        (cid, p.item.replica_id, format_ts(p.item.connected_at)) for cid, p in claims.winners.items()])
    current: dict[str, int] = {}
    for cid, epoch, owner, prev_owner, prev_open in _json_rows(conn, _OWNERS_SQL, fencing.touched_chargers(by_kind)):
        current[cid] = epoch
        p = claims.winners.get(cid)
        if p is not None:
            result.claimed[p.item] = epoch
            value[id(p)] = epoch
            if prev_open and prev_owner and prev_owner != owner:
                result.takeovers.append(fencing.Takeover(cid, epoch, owner, prev_owner))
    _many(conn, _TAKEOVER_HEAD, _TAKEOVER_ROW, "", [
        (t.charger_id, t.epoch, t.replica_id, t.previous_replica_id, now) for t in result.takeovers])

    def admitted(kind: str) -> list[Pending]:
        return fencing.admitted(by_kind[kind], current, result.claimed, refused)

    boots = {p.item.charger_id: p for p in admitted(BOOT)}  # one row per charger and statement
    _many(conn, _BOOT_HEAD, _BOOT_ROW, _BOOT_TAIL, [_boot_row(p.item, replica_id) for p in boots.values()])

    starts: dict[tuple[Any, ...], tuple[StartRecord, int | None]] = {}
    start_ps = admitted(START)
    for p in start_ps:
        starts.setdefault(_start_key(p.item), (p.item, fencing.epoch_of(p, result.claimed)))
    _many(conn, _START_HEAD, _START_ROW, _START_TAIL, [
        (s.charger_id, s.connector_id, s.id_tag, s.meter_start, key[4], s.reservation_id, now, replica_id, epoch)
        for key, (s, epoch) in starts.items()])
    ids: dict[tuple[Any, ...], int] = {}
    for found in _many(conn, _START_IDS_HEAD, _START_IDS_ROW, _START_IDS_TAIL, list(starts)):
        for tx_id, *key in json.loads(found[0]):
            ids[tuple(key)] = tx_id
    for p in start_ps:
        value[id(p)] = ids[_start_key(p.item)]

    stop_ps = admitted(STOP)
    targets = {tid: (cid, connector, stopped) for tid, cid, connector, stopped in _json_rows(
        conn, _STOP_TARGETS_SQL, sorted({p.item.transaction_id for p in stop_ps}))}
    stop_rows, samples = [], []
    for p in stop_ps:
        stop: StopRecord = p.item
        verdict, connector = decide_stop(stop, targets)
        value[id(p)] = verdict
        if verdict == STOP_STORED:
            epoch = fencing.epoch_of(p, result.claimed)
            stop_rows.append(_stop_row(stop, now, epoch))
            for m in stop.samples:
                m.connector_id = connector
                samples.append(_meter_row(m, epoch))
    _many(conn, _STOP_HEAD, _STOP_ROW, _STOP_TAIL, stop_rows)
    samples += [_meter_row(m, fencing.epoch_of(p, result.claimed)) for p in admitted(METER) for m in p.item]
    _many(conn, _METER_HEAD, _METER_ROW, _METER_TAIL, samples)

    for p in by_kind[LAZY]:
        flush = p.item
        _many(conn, _SEEN_HEAD, _SEEN_ROW, _SEEN_TAIL, [(cid, format_ts(ts)) for cid, ts in flush.seen.items()])
        _many(conn, _STATUS_HEAD, _STATUS_ROW, _STATUS_TAIL, [_status_row(s, e) for s, e in flush.statuses])
        _many(conn, _RELEASE_HEAD, _RELEASE_ROW, _RELEASE_TAIL, [
            (cid, epoch, format_ts(at)) for cid, epoch, at in flush.releases])
    result.outcomes = [refused.get(id(p), (True, value.get(id(p)))) for p in batch]
    return result


def _boot_row(b: BootRecord, replica_id: str | None) -> tuple[Any, ...]:
    at = format_ts(b.at)
    return (b.charger_id, b.vendor, b.model, b.serial_number, b.firmware_version,
            json.dumps(b.payload, separators=(",", ":")), at, at, at, replica_id)


def _start_key(s: StartRecord) -> tuple[str, int, str, int, str]:
    return (s.charger_id, s.connector_id, s.id_tag, s.meter_start, format_ts(s.started_at))


def _stop_row(s: StopRecord, now: str, epoch: int | None) -> tuple[Any, ...]:
    return (s.transaction_id, s.charger_id, s.id_tag, s.meter_stop, format_ts(s.stopped_at), s.reason, now, epoch)


def _meter_row(m: MeterSample, epoch: int | None) -> tuple[Any, ...]:
    return (m.charger_id, m.connector_id, m.transaction_id, format_ts(m.ts), m.measurand, m.phase, m.location,
            m.context, m.unit, m.value, epoch)


def _status_row(s: StatusRecord, epoch: int | None) -> tuple[Any, ...]:
    return (s.charger_id, s.connector_id, s.status, s.error_code, s.info, format_ts(s.at), epoch)
