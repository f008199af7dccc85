"""Close connections at a pace, oldest first — the shape of atlantis' drainer, for WebSockets.

Draining a replica means: stop taking new chargers (the caller closes the listener), then close
the existing ones at `rate_per_s` with 1012 (Service Restart) so they reconnect to the other
replicas without a thundering herd. Progress is plain data for /admin/stats. `close_now(n)` is the
same close, driven from outside: the release engine's fleet-wide token bucket calls it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from envctl.charger.server.connection import ChargerConnection
from envctl.charger.server.registry import Registry

SERVICE_RESTART = 1012


@dataclass
class DrainProgress:
    active: bool = False
    done: bool = False
    rate_per_s: float = 0.0
    started_at: float | None = None  # unix time
    finished_at: float | None = None
    total_at_start: int = 0
    closed: int = 0
    remaining: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        end = self.finished_at or time.time()
        d["elapsed_s"] = round(end - self.started_at, 3) if self.started_at else 0.0
        return d


class Drainer:
    def __init__(self, registry: Registry, reason: str = "service restart") -> None:
        self.registry = registry
        self.reason = reason
        self.progress = DrainProgress()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def draining(self) -> bool:
        return self.progress.active or self.progress.done

    def start(self, rate_per_s: float) -> DrainProgress:
        """Begin draining (or change the pace of a drain in progress)."""
        p = self.progress
        p.rate_per_s = rate_per_s
        if self._task is None:
            p.active, p.started_at, p.total_at_start = True, time.time(), len(self.registry)
            p.remaining = p.total_at_start
            self._task = asyncio.get_running_loop().create_task(self._run(), name="drain")
        return p

    async def _run(self) -> None:
        p = self.progress
        began = time.monotonic()
        budget_used = 0  # closes the pace allowed so far; counted from a moving start on rate change
        last_rate = p.rate_per_s
        while len(self.registry):
            if p.rate_per_s != last_rate:  # re-base the pace so a new rate applies from now on
                began, budget_used, last_rate = time.monotonic(), 0, p.rate_per_s
            allowed = int((time.monotonic() - began) * p.rate_per_s) + 1
            due = allowed - budget_used
            if due > 0:
                closed = self.close_now(due)
                budget_used += due
                p.closed += closed
            p.remaining = len(self.registry)
            await asyncio.sleep(min(0.1, max(0.002, 1.0 / p.rate_per_s)))
        p.remaining = 0
        p.active, p.done, p.finished_at = False, True, time.time()

    def close_now(self, n: int, code: int = SERVICE_RESTART) -> int:
        """Start closing up to n connections, oldest first; they leave the registry at once."""
        victims = self.registry.oldest(n)
        for conn in victims:
            self.close(conn, code, self.reason)
        return len(victims)

    def close(self, conn: ChargerConnection, code: int, reason: str) -> None:
        self.registry.detach(conn)
        conn.closing = True
        task = asyncio.get_running_loop().create_task(conn.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def wait_closed(self) -> None:
        if self._closing:
            await asyncio.wait(list(self._closing))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
