"""The per-charger transaction queue: order, retry timing, dropping, and what the ledger records."""

from __future__ import annotations

from pathlib import Path

from envctl.charger.simulator import ledger
from envctl.charger.simulator.ledger import LedgerWriter
from envctl.charger.simulator.stats import WorkerStats
from envctl.charger.simulator.txqueue import Session, TxMessage, TxQueue


def make(tmp_path: Path) -> tuple[TxQueue, WorkerStats, LedgerWriter, Session, list[TxMessage]]:
    stats, writer = WorkerStats(0, 1), LedgerWriter(str(tmp_path), 0)
    q = TxQueue("CP1", stats, writer)
    s = Session(1, "TAG", 100, "2026-01-01T00:00:00.000Z")
    start = TxMessage(
        "CP1:1", "start", s, {"connectorId": 1, "idTag": "TAG", "meterStart": 100, "timestamp": s.timestamp}
    )
    s.start_msg = start
    meter = TxMessage("CP1:2", "meter", s, {"connectorId": 1, "meterValue": [{"timestamp": "t2", "sampledValue": []}]})
    stop = TxMessage("CP1:3", "stop", s, {"meterStop": 200, "timestamp": "t3", "idTag": "TAG", "reason": "Local"})
    for m in (start, meter, stop):
        q.push(m)
    return q, stats, writer, s, [start, meter, stop]


def test_stop_and_meter_carry_the_id_only_once_the_start_is_acknowledged(tmp_path: Path) -> None:
    q, stats, writer, s, (start, meter, stop) = make(tmp_path)
    assert meter.payload() is None and q.head() is start and stats.tx_queued == 3
    q.mark_sent(start)
    q.acknowledged(start, {"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
    assert q.head() is meter and meter.payload()["transactionId"] == 42  # type: ignore[index]
    assert stop.payload() == {**stop.body, "transactionId": 42}
    writer.flush()
    rows = {r["id"]: r for r in ledger.read_rows(str(tmp_path))}
    assert rows["CP1:1"]["state"] == "acknowledged" and rows["CP1:1"]["transaction_id"] == 42
    assert rows["CP1:2"]["state"] == "queued" and rows["CP1:2"]["start_id"] == "CP1:1"
    assert stats.tx_queued == 2 and stats.tx_acknowledged == 1 and stats.tx_sent == 1


def test_failures_back_off_by_attempt_then_drop_the_session(tmp_path: Path) -> None:
    q, stats, writer, s, (start, meter, stop) = make(tmp_path)
    q.mark_sent(start)
    q.failed(start, "CALLERROR InternalError: x", max_attempts=3, retry_interval=10, now=1000)
    assert start.not_before == 1010 and q.head() is start and start.state == "queued"
    q.mark_sent(start)
    q.failed(start, "timeout", max_attempts=3, retry_interval=10, now=2000)
    assert start.not_before == 2020
    q.mark_sent(start)
    q.failed(start, "timeout", max_attempts=3, retry_interval=10, now=3000)
    assert len(q) == 0 and stats.tx_dropped == 3 and stats.tx_queued == 0
    writer.flush()
    summary = ledger.summarise(str(tmp_path))
    assert (summary.started, summary.acknowledged, summary.dropped, summary.pending) == (1, 0, 1, 0)
    assert summary.by_kind["meter"] == {"dropped": 1} and summary.resent == 1


def test_an_interrupted_message_is_queued_again_without_counting_a_failure(tmp_path: Path) -> None:
    q, stats, writer, s, (start, _, _) = make(tmp_path)
    q.mark_sent(start)
    q.interrupted(start)
    assert start.state == "queued" and start.failures == 0 and start.attempts == 1 and q.head() is start
