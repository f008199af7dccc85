"""The ledger reader: latest state per message, torn lines, and reconciliation with server rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson

from envctl.charger.simulator import ledger
from envctl.charger.simulator.reconcile import reconcile


def start_row(i: int, state: str, tid: int | None, ts: str = "2026-01-01T00:00:00.123Z") -> dict:  # type: ignore[type-arg]
    return {
        "id": f"CP1:{i}", "charger": "CP1", "kind": "start", "state": state, "attempts": 1,
        "key": {"connector": 1, "id_tag": "T", "meter_start": i, "timestamp": ts}, "transaction_id": tid,
    }  # fmt: skip


def test_last_line_wins_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    with open(tmp_path / "ledger-w0.jsonl", "wb") as fh:
        fh.write(orjson.dumps(start_row(1, "queued", None)) + b"\n")
        fh.write(orjson.dumps(start_row(1, "acknowledged", 7)) + b"\n")
        fh.write(orjson.dumps(start_row(2, "sent", None)) + b"\n")
        fh.write(b'{"id": "CP1:3", "kin')  # a hard kill mid-write
    (tmp_path / "ledger-w1.jsonl").write_bytes(orjson.dumps(start_row(9, "dropped", None)) + b"\n")
    s = ledger.summarise(str(tmp_path))
    assert (s.started, s.acknowledged, s.pending, s.dropped) == (3, 1, 1, 1)
    assert s.acknowledged_starts == [
        {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 1,
         "timestamp": "2026-01-01T00:00:00.123Z", "transaction_id": 7}
    ]  # fmt: skip


def test_reconcile_matches_database_timestamps_and_counts_lost_and_duplicated(tmp_path: Path) -> None:
    (tmp_path / "ledger-w0.jsonl").write_bytes(
        b"".join(orjson.dumps(start_row(i, "acknowledged", i)) + b"\n" for i in (1, 2, 3))
    )
    s = ledger.summarise(str(tmp_path))
    at = dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=dt.UTC)
    db = [
        {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 1, "timestamp": at, "transaction_id": 1},
        {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 2, "timestamp": "2026-01-01 00:00:00.123000+00:00",
         "transaction_id": 2},
        {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 2, "timestamp": at, "transaction_id": 5},
    ]  # fmt: skip
    result = reconcile(s, db)
    assert (result["lost"], result["duplicated"], result["id_mismatch"]) == (1, 1, 0)  # start 3 lost, start 2 twice
    assert reconcile(s, db[:1])["lost"] == 2


def test_clear_removes_only_ledger_files(tmp_path: Path) -> None:
    (tmp_path / "ledger-w0.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("keep")
    ledger.clear(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_start_stored_but_never_answered_is_not_phantom_and_a_second_copy_is_duplicated(tmp_path: Path) -> None:
    ts = "2026-01-01T00:00:00.123Z"
    (tmp_path / "ledger-w0.jsonl").write_bytes(
        orjson.dumps(start_row(1, "acknowledged", 1)) + b"\n"
        + orjson.dumps(start_row(2, "sent", None, ts="2026-01-01T00:01:00.000Z")) + b"\n"
    )
    s = ledger.summarise(str(tmp_path))
    row = lambda meter, tid, tag="T", at=ts: {"charger": "CP1", "connector": 1, "id_tag": tag,  # noqa: E731
                                              "meter_start": meter, "timestamp": at, "transaction_id": tid}
    # start 2 was committed, then the link dropped before its answer: the charger resends it
    result = reconcile(s, [row(1, 1), row(2, 2, at="2026-01-01T00:01:00.000Z")])
    assert (result["phantom"], result["duplicated"], result["lost"]) == (0, 0, 0)
    assert reconcile(s, [row(1, 1), row(9, 3, at="2026-01-02T00:00:00Z")])["phantom"] == 1  # nobody sent it
    assert reconcile(s, [row(1, 1), row(1, 4, tag="OTHER")])["duplicated"] == 1  # same session, new id


def test_server_rows_newer_than_the_ledgers_horizon_are_not_judged_yet(tmp_path: Path) -> None:
    """Read while the simulator runs: its last second may not be flushed, so a brand-new server row
    is no phantom yet; an old one is."""
    row = start_row(1, "acknowledged", 1) | {"updated_at": dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC).timestamp()}
    (tmp_path / "ledger-w0.jsonl").write_bytes(orjson.dumps(row) + b"\n")
    s = ledger.summarise(str(tmp_path))
    ours = {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 1, "timestamp": "2026-01-01T00:00:00.123Z",
            "transaction_id": 1}
    later = ours | {"charger": "CP2", "transaction_id": 2, "timestamp": "2026-01-01T00:00:09Z"}
    earlier = ours | {"charger": "CP3", "transaction_id": 3, "timestamp": "2026-01-01T00:00:02Z"}
    result = reconcile(s, [ours, later, earlier])
    assert (result["phantom"], result["too_recent_to_judge"]) == (1, 1)


def test_a_sample_the_ledger_saw_queued_but_not_sent_is_not_a_phantom(tmp_path: Path) -> None:
    """The ledger is read before the database: a MeterValues created before the horizon but sent after
    it (it waited behind another message, and its start's answer) is in the server and, as far as the
    ledger knows, unsent. It is not judged; a sample nobody created still is a phantom."""
    at = "2026-01-01T00:00:01.000Z"
    sample = {"value": "1200", "measurand": "Energy.Active.Import.Register"}
    meter = {"id": "CP1:2", "charger": "CP1", "kind": "meter", "state": "queued", "attempts": 0,
             "key": {"transaction_id": None, "timestamp": at, "connector": 1,
                     "meter_value": [{"timestamp": at, "sampledValue": [sample]}]},
             "transaction_id": None,
             "updated_at": dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC).timestamp()}  # fmt: skip
    (tmp_path / "ledger-w0.jsonl").write_bytes(orjson.dumps(start_row(1, "acknowledged", 5)) + b"\n"
                                               + orjson.dumps(meter) + b"\n")
    s = ledger.summarise(str(tmp_path))
    start = {"charger": "CP1", "connector": 1, "id_tag": "T", "meter_start": 1, "timestamp": "2026-01-01T00:00:00.123Z",
             "transaction_id": 5}
    theirs = {"charger": "CP1", "connector": 1, "transaction_id": 5, "ts": at, "measurand": sample["measurand"],
              "phase": None, "location": None, "context": None, "value": "1200"}
    result = reconcile(s, [start], [theirs])
    assert (result["meter_values_phantom"], result["too_recent_to_judge"]) == (0, 1)
    nobodys = theirs | {"ts": "2026-01-01T00:00:02.000Z"}
    assert reconcile(s, [start], [theirs, nobodys])["meter_values_phantom"] == 1
