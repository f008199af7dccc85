from __future__ import annotations

from pathlib import Path

import pytest

from envctl.github.deliveries import Delivery, DeliveryStore


def d(i: int, key: str = "o/r#1") -> Delivery:
    return Delivery(id=f"id-{i}", event="issue_comment", key=key, body=b'{"n": %d}' % i)


def test_a_delivery_is_accepted_once(tmp_path: Path) -> None:
    store = DeliveryStore(tmp_path / "d.sqlite3")
    assert store.accept(d(1))
    assert not store.accept(d(1))
    assert not store.accept(Delivery(id="id-1", event="ping", key="x", body=b"{}"))  # the id decides
    assert store.get("id-1") == Delivery("id-1", "issue_comment", "o/r#1", b'{"n": 1}')


def test_accepted_deliveries_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    store = DeliveryStore(path)
    for i in range(3):
        store.accept(d(i))
    store.mark_running("id-1")
    store.mark_done("id-0", "success: help")
    store.close()
    again = DeliveryStore(path)
    assert [x.id for x in again.unfinished()] == ["id-1", "id-2"]
    assert again.get("id-1").state == "running" and again.get("id-1").attempts == 1  # type: ignore[union-attr]
    assert not again.accept(d(0))  # still remembered after the restart
    assert again.counts() == {"done": 1, "running": 1, "queued": 1}


def test_retry_keeps_it_unfinished_with_a_time(tmp_path: Path) -> None:
    store = DeliveryStore(tmp_path / "d.sqlite3")
    store.accept(d(1))
    store.mark_running("id-1")
    store.retry_at("id-1", 12345.0, "rate limited")
    got = store.get("id-1")
    assert got is not None and got.state == "queued" and got.not_before == 12345.0 and got.result == "rate limited"
    store.mark_failed("id-1", "gave up")
    assert store.unfinished() == []


def test_prune_forgets_only_old_finished(tmp_path: Path) -> None:
    store = DeliveryStore(tmp_path / "d.sqlite3")
    store.accept(d(1))
    store.accept(d(2))
    store.mark_done("id-1", "ok")
    assert store.prune(older_than_s=3600) == 0
    assert store.prune(older_than_s=-1) == 1
    assert store.get("id-1") is None and store.get("id-2") is not None


def test_racing_copies_of_one_delivery_insert_exactly_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = DeliveryStore(tmp_path / "d.sqlite3")
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: store.accept(d(i % 10)), range(200)))
    assert results.count(True) == 10
    assert len(store.unfinished()) == 10


def test_a_failing_write_in_a_group_does_not_lose_the_others(tmp_path: Path) -> None:
    """Writes are committed in groups; one that fails is retried alone, the rest still commit."""
    import sqlite3
    import threading

    store = DeliveryStore(tmp_path / "d.sqlite3")
    gate = threading.Event()
    # hold the writer inside a first group so the next writes queue up behind it as one group
    first = store.write(lambda db: gate.wait(5))
    accepts = [store.accept_later(d(i)) for i in range(5)]
    broken = store.write(lambda db: db.execute("INSERT INTO no_such_table VALUES (1)"))
    more = [store.accept_later(d(i)) for i in range(5, 8)]
    gate.set()
    assert first.result(5) is True
    assert [f.result(5) for f in accepts + more] == [True] * 8
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        broken.result(5)
    assert store.counts() == {"queued": 8}
