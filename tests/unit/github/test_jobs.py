"""The queue: per-PR order, cross-PR parallelism within a bound, retries, resume and drain."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from envctl.github.deliveries import Delivery, DeliveryStore
from envctl.github.jobs import JobQueue, RetryLater


class Recorder:
    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.running: dict[str, int] = defaultdict(int)
        self.max_per_key: dict[str, int] = defaultdict(int)
        self.total = 0
        self.max_total = 0
        self.order: dict[str, list[str]] = defaultdict(list)

    def __call__(self, delivery: Delivery) -> str:
        with self.lock:
            self.running[delivery.key] += 1
            self.total += 1
            self.max_per_key[delivery.key] = max(self.max_per_key[delivery.key], self.running[delivery.key])
            self.max_total = max(self.max_total, self.total)
            self.order[delivery.key].append(delivery.id)
        time.sleep(self.delay)
        with self.lock:
            self.running[delivery.key] -= 1
            self.total -= 1
        return "success: ok"


def accept(store: DeliveryStore, i: int, key: str) -> Delivery:
    delivery = Delivery(id=f"{key}-{i}", event="issue_comment", key=key, body=b"{}")
    assert store.accept(delivery)
    return delivery


@pytest.fixture
def store(tmp_path: Path) -> DeliveryStore:
    return DeliveryStore(tmp_path / "d.sqlite3")


def test_one_job_at_a_time_per_pr_in_order_and_prs_in_parallel(store: DeliveryStore) -> None:
    handler = Recorder()
    queue = JobQueue(store, handler, workers=3)
    keys = [f"o/r#{n}" for n in range(6)]
    for i in range(4):
        for key in keys:
            queue.submit(accept(store, i, key))
    assert queue.wait_idle(30)
    assert all(v == 1 for v in handler.max_per_key.values())
    assert handler.max_total == 3  # parallel across PRs, never beyond the pool
    for key in keys:
        assert handler.order[key] == [f"{key}-{i}" for i in range(4)]
    assert store.counts() == {"done": 24}


def test_retry_later_reruns_and_holds_the_prs_later_jobs(store: DeliveryStore) -> None:
    calls: list[tuple[str, int]] = []

    def handler(delivery: Delivery) -> str:
        calls.append((delivery.id, delivery.attempts))
        if delivery.id.endswith("-0") and delivery.attempts == 1:
            raise RetryLater(0.2, "rate limited")
        return "success"

    queue = JobQueue(store, handler, workers=2)
    first, second = accept(store, 0, "o/r#1"), accept(store, 1, "o/r#1")
    queue.submit(first)
    queue.submit(second)
    assert queue.wait_idle(10)
    assert calls == [("o/r#1-0", 1), ("o/r#1-0", 2), ("o/r#1-1", 1)]
    assert store.get(first.id).state == "done" and store.get(first.id).attempts == 2  # type: ignore[union-attr]


def test_gives_up_after_max_attempts(store: DeliveryStore) -> None:
    def handler(_: Delivery) -> str:
        raise RetryLater(0.01, "GitHub answered 502")

    queue = JobQueue(store, handler, workers=1, max_attempts=3)
    delivery = accept(store, 0, "o/r#1")
    queue.submit(delivery)
    assert queue.wait_idle(10)
    got = store.get(delivery.id)
    assert got is not None and got.state == "failed" and got.attempts == 3
    assert got.result == "gave up after 3 attempts: GitHub answered 502"


def test_a_crashing_job_is_recorded_and_the_queue_keeps_going(store: DeliveryStore) -> None:
    def handler(delivery: Delivery) -> str:
        if delivery.id.endswith("-0"):
            raise KeyError("boom")
        return "success"

    queue = JobQueue(store, handler, workers=1)
    for i in range(3):
        queue.submit(accept(store, i, "o/r#1"))
    assert queue.wait_idle(10)
    assert store.get("o/r#1-0").result == "KeyError: 'boom'"  # type: ignore[union-attr]
    assert store.counts() == {"failed": 1, "done": 2}


def test_resume_runs_queued_and_interrupted_deliveries_in_order(store: DeliveryStore) -> None:
    for i in range(3):
        accept(store, i, "o/r#1")
    store.mark_running("o/r#1-0")  # the process died while running it
    handler = Recorder(delay=0)
    queue = JobQueue(store, handler, workers=2)
    assert queue.resume() == 3
    assert queue.wait_idle(10)
    assert handler.order["o/r#1"] == ["o/r#1-0", "o/r#1-1", "o/r#1-2"]
    assert store.get("o/r#1-0").attempts == 2  # type: ignore[union-attr]


def test_drain_finishes_running_jobs_and_leaves_the_rest_queued(store: DeliveryStore) -> None:
    started = threading.Event()

    def handler(delivery: Delivery) -> str:
        started.set()
        time.sleep(0.3)
        return "success"

    queue = JobQueue(store, handler, workers=1)
    for i in range(3):
        queue.submit(accept(store, i, "o/r#1"))
    assert started.wait(5)
    assert queue.drain(timeout=5)
    assert store.get("o/r#1-0").state == "done"  # type: ignore[union-attr]
    assert [d.id for d in store.unfinished()] == ["o/r#1-1", "o/r#1-2"]
    queue.submit(accept(store, 9, "o/r#2"))  # refused while draining: stays queued for the next start
    assert store.get("o/r#2-9").state == "queued"  # type: ignore[union-attr]


def test_synchronous_mode_runs_inside_submit(store: DeliveryStore) -> None:
    queue = JobQueue(store, lambda d: "success: " + d.id, synchronous=True)
    queue.submit(accept(store, 0, "o/r#1"))
    assert store.get("o/r#1-0").result == "success: o/r#1-0"  # type: ignore[union-attr]
