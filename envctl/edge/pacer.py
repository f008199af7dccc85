"""A steady pace for moves: one start every 1/rate seconds, no bursts.

The budget is fleet-wide (every edge process together); with K processes sharing the port each
paces at budget/K, as the server's drain does (envctl/charger/server/drain.py). That is exact
when the processes hold similar numbers of chargers, which SO_REUSEPORT's spreading gives, and
never exceeds the budget even when they do not.
"""

from __future__ import annotations

import asyncio
import time


class Pacer:
    def __init__(self, budget_per_s: float, processes: int = 1) -> None:
        self.budget_per_s = budget_per_s
        self.processes = processes
        self._next = 0.0

    @property
    def rate(self) -> float:
        return self.budget_per_s / self.processes

    def set(self, budget_per_s: float, processes: int | None = None) -> None:
        self.budget_per_s = budget_per_s
        if processes is not None:
            self.processes = processes
        self._next = min(self._next, time.monotonic() + 1.0 / self.rate)  # a faster pace applies now

    async def take(self) -> None:
        """Wait for the next slot; callers queue in arrival order."""
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        if slot > now:
            await asyncio.sleep(slot - now)
