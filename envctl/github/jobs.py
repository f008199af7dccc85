"""The work queue behind the webhook: one job at a time per pull request, different PRs in parallel.

- A bounded thread pool runs jobs; jobs sharing a key (one PR) run in arrival order, one at a time.
- Every state change goes to DeliveryStore first, so a restart's `resume()` picks up whatever was
  queued or interrupted; runners are idempotent (up converges, down is idempotent, the sticky
  comment is edited in place, replies check for their reply-to marker on a retry).
- A handler raising RetryLater (rate limit, GitHub 5xx) is re-run after the delay, the PR's later
  jobs waiting behind it; after max_attempts the delivery is marked failed.
- drain() refuses new work, waits for running jobs, and leaves queued ones in the store
  (atlantis drainer habit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from envctl.github.deliveries import Delivery, DeliveryStore

log = logging.getLogger("envctl.github.jobs")


class RetryLater(Exception):
    def __init__(self, delay_s: float, why: str) -> None:
        super().__init__(why)
        self.delay_s = delay_s
        self.why = why


Handler = Callable[[Delivery], str]


class JobQueue:
    def __init__(self, store: DeliveryStore, handler: Handler, workers: int = 4, max_attempts: int = 5,
                 synchronous: bool = False) -> None:
        self.store = store
        self.handler = handler
        self.max_attempts = max_attempts
        self.synchronous = synchronous  # tests: run each job inside submit()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="envctl-webhook")
        self._lock = threading.Condition()
        self._waiting: dict[str, deque[Delivery]] = {}
        self._busy: set[str] = set()  # keys with a job running or scheduled
        self._timers: set[threading.Timer] = set()
        self._draining = False
        self._running = 0

    @property
    def draining(self) -> bool:
        return self._draining

    def submit(self, delivery: Delivery) -> None:
        """Queue an already-persisted delivery."""
        if self.synchronous:
            self._run(delivery, chain=False)
            return
        with self._lock:
            if self._draining:
                return  # it stays queued in the store; the next start resumes it
            if delivery.key in self._busy:
                self._waiting.setdefault(delivery.key, deque()).append(delivery)
                return
            self._busy.add(delivery.key)
        self._start(delivery)

    def resume(self) -> int:
        """Re-queue everything the store says is unfinished (after a restart). Returns how many."""
        pending = self.store.unfinished()
        for delivery in pending:
            self.submit(delivery)
        return len(pending)

    def _start(self, delivery: Delivery) -> None:
        delay = delivery.not_before - time.time()
        if delay > 0:
            timer = threading.Timer(delay, self._fire, args=(delivery,))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        try:
            self._pool.submit(self._run, delivery, True)
        except RuntimeError:  # pool shut down while draining: stays queued in the store
            self._release(delivery.key)

    def _fire(self, delivery: Delivery) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
            draining = self._draining
        if draining:
            self._release(delivery.key)
            return
        self._start(replace(delivery, not_before=0.0))

    def _run(self, delivery: Delivery, chain: bool) -> None:
        with self._lock:
            self._running += 1
        try:
            self._run_counted(delivery, chain)
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _run_counted(self, delivery: Delivery, chain: bool) -> None:
        self.store.mark_running(delivery.id)
        attempt = replace(delivery, attempts=delivery.attempts + 1, state="running")
        retry: Delivery | None = None
        try:
            result = self.handler(attempt)
        except RetryLater as later:
            if attempt.attempts >= self.max_attempts:
                log.error("delivery %s failed after %d attempts: %s", delivery.id, attempt.attempts, later.why)
                self.store.mark_failed(delivery.id, f"gave up after {attempt.attempts} attempts: {later.why}")
            else:
                not_before = time.time() + later.delay_s
                log.warning("delivery %s retried in %.1fs: %s", delivery.id, later.delay_s, later.why)
                self.store.retry_at(delivery.id, not_before, later.why)
                retry = replace(attempt, state="queued", not_before=not_before)
        except Exception as err:  # a bug or an unexpected GitHub answer: record it, keep serving
            log.exception("delivery %s failed", delivery.id)
            self.store.mark_failed(delivery.id, f"{type(err).__name__}: {err}")
        else:
            self.store.mark_done(delivery.id, result)
        if self.synchronous:
            if retry is not None:
                time.sleep(max(0.0, retry.not_before - time.time()))
                self._run(retry, chain=False)
            return
        if retry is not None:
            self._start(retry)  # the key stays busy: later jobs for this PR wait behind it
        elif chain:
            self._next(delivery.key)

    def _next(self, key: str) -> None:
        with self._lock:
            queue = self._waiting.get(key)
            if self._draining or not queue:
                self._waiting.pop(key, None)
                self._busy.discard(key)
                self._lock.notify_all()
                return
            nxt = queue.popleft()
        self._start(nxt)

    def _release(self, key: str) -> None:
        with self._lock:
            self._busy.discard(key)
            self._waiting.pop(key, None)
            self._lock.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no job is running or waiting (tests, `handle`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def drain(self, timeout: float = 60.0) -> bool:
        """Stop taking work, let running jobs finish; queued ones stay in the store for the next start."""
        with self._lock:
            self._draining = True
            for timer in self._timers:
                timer.cancel()
            for key in list(self._waiting):
                self._waiting.pop(key)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._running and deadline > time.monotonic():
                self._lock.wait(deadline - time.monotonic())
            finished = self._running == 0
        # a job still running after the timeout stays 'running' in the store and is resumed next start
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._busy.clear()
            self._lock.notify_all()
        return finished
