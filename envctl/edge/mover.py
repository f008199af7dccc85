"""Moves chargers between backends at the budget: operator moves (jobs) and re-homing.

    start_job(count, from, to)  move up to `count` chargers from one backend set to another, one
                                start per pacer slot; each move waits for its charger to be idle
    orphaned(session)           a session whose backend went away: re-home it to a healthy
                                backend, paced by the same budget; a refused target is retried
                                on another backend after a short pause

A move that cannot happen (target refused, charger never idle) leaves the charger where it was.
Each charger costs a third socket while it moves, so moves in flight are capped (MAX_IN_FLIGHT).
Completed moves are counted per wall-clock second (PerSecond), exact across processes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from envctl.charger.rates import PerSecond
from envctl.edge.backends import Pool
from envctl.edge.pacer import Pacer
from envctl.edge.session import Opener, Session

MAX_IN_FLIGHT = 128
RETRY_PAUSE_S = 0.5
RESULTS = ("moved", "busy", "refused", "closed", "no_target")
_job_ids = itertools.count(1)


@dataclass
class MoveJob:
    id: int
    requested: int
    from_backends: list[str]
    to_backends: list[str]
    selected: int = 0
    results: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    done: bool = False
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["elapsed_s"] = round((self.finished_at or time.time()) - self.started_at, 3)
        return d


class Mover:
    def __init__(self, pool: Pool, pacer: Pacer, opener: Opener, *, idle_timeout: float) -> None:
        self.pool = pool
        self.pacer = pacer
        self.opener = opener
        self.idle_timeout = idle_timeout
        self.moves_per_second = PerSecond()
        self.results: dict[str, int] = dict.fromkeys(RESULTS, 0)
        self.rehomed_total = 0
        self.jobs: deque[MoveJob] = deque(maxlen=50)
        self._orphans: deque[Session] = deque()
        self._orphan_wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spawn(self._rehome_loop())

    @property
    def orphans_waiting(self) -> int:
        return sum(1 for s in self._orphans if s.orphaned and not s.closed)

    # -- operator moves ------------------------------------------------------------------------
    def start_job(self, count: int, from_ids: set[str], to_ids: set[str]) -> MoveJob:
        job = MoveJob(next(_job_ids), count, sorted(from_ids), sorted(to_ids))
        chosen: list[Session] = []
        for backend in self.pool.backends.values():
            if backend.id in from_ids:
                chosen.extend(s for s in sorted(backend.sessions, key=lambda s: s.connected_at)
                              if not (s.moving or s.closed or s.orphaned))
        chosen = chosen[:count]
        job.selected = len(chosen)
        self.jobs.append(job)
        self._spawn(self._run_job(job, chosen))
        return job

    async def _run_job(self, job: MoveJob, sessions: list[Session]) -> None:
        running: set[asyncio.Task[None]] = set()
        for session in sessions:
            await self._slots.acquire()
            await self.pacer.take()
            task = self._spawn(self._move_one(job, session))
            running.add(task)
        if running:
            await asyncio.wait(running)
        job.done, job.finished_at = True, time.time()

    async def _move_one(self, job: MoveJob, session: Session) -> None:
        try:
            target = self.pool.pick(set(job.to_backends), avoid=session.backend)
            if target is None:
                result = "no_target"
            else:
                result = await session.move(target, self.opener, idle_timeout=self.idle_timeout)
            self._count(result)
            job.results[result] += 1
        finally:
            self._slots.release()

    # -- re-homing -----------------------------------------------------------------------------
    def orphaned(self, session: Session) -> None:
        self._orphans.append(session)
        self._orphan_wake.set()

    async def _rehome_loop(self) -> None:
        while True:
            if not self._orphans:
                self._orphan_wake.clear()
                await self._orphan_wake.wait()
                continue
            session = self._orphans.popleft()
            if session.closed or not session.orphaned:
                continue
            await self._slots.acquire()
            await self.pacer.take()
            target = self.pool.pick(avoid=session.backend)
            if target is None:
                self._slots.release()
                self._orphans.append(session)
                await asyncio.sleep(RETRY_PAUSE_S)  # no healthy backend yet: wait for one
                continue
            self._spawn(self._rehome_one(session, target))

    async def _rehome_one(self, session: Session, target: Any) -> None:
        try:
            result = await session.rehome(target, self.opener)
        finally:
            self._slots.release()
        self._count(result)
        if result == "moved":
            self.rehomed_total += 1
        elif result == "refused":
            await asyncio.sleep(RETRY_PAUSE_S)
            self.orphaned(session)

    def _count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1
        if result == "moved":
            self.moves_per_second.add()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
