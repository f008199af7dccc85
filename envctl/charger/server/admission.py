"""Admission control: a per-replica limit on new WebSocket handshakes, so a storm cannot reach the database.

A replica crash or a network blip sends every charger it held back at once, and firmware
reconnects immediately. Each accepted connection costs an ownership claim and a BootNotification
write; thousands per second per replica, times the replicas, is what took the operator's database
down. Handshakes above `rate_per_s` are answered `503 Service Unavailable` with `Retry-After`
before anything else is looked at (path, auth, database): the refusal has to stay cheap because
the refused charger comes straight back. So it is decided when the TCP connection is accepted,
and the refused connection gets a tiny asyncio protocol (`Refusal`) instead of a WebSocket
connection: it waits for the end of the request headers, writes a canned response and closes;
no HTTP parser, no handshake task, no connection object.

The bucket holds at most BURST_S worth of tokens, so the limit is a rate, not a quota: an idle
replica does not save up a burst, and no second ever admits more than (1 + BURST_S) x the rate
(a one-second bucket let through twice the rate in the first second of a storm, measured).

DEFAULT_MAX_ACCEPT_RATE is sized from the measured connect capacity of one replica: 80 % of it,
rounded down to a hundred, so a replica keeps headroom for the traffic of the chargers it already
holds. The capacity: 3,688 connects + BootNotification persisted per second by one server process
on a quiet 2-core machine (benchmarks/results/server_connect.json), divided by the 1.142 the
ownership bookkeeping costs in server CPU per connect, measured side by side
(benchmarks/results/server_connect_ownership.json, the last of three runs on a shared machine,
whose ratios were 1.04, 1.28 and 1.14: the median): about 3,230/s, taken as 3,200/s. See
docs/benchmarks.md, issue 10.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from envctl.charger.server.handshakes import GRACE_S, ON_PROBATION, HandshakeGate, source_of

if TYPE_CHECKING:
    from envctl.charger.server.metrics import Metrics

MEASURED_CONNECT_CAPACITY_PER_S = 3_200  # with ownership, one replica (see above)
DEFAULT_MAX_ACCEPT_RATE = int(MEASURED_CONNECT_CAPACITY_PER_S * 0.8) // 100 * 100
MAX_RETRY_AFTER_S = 30
BURST_S = 0.2  # absorbs the jitter of handshakes arriving together, nothing more


class Admission:
    __slots__ = ("rate", "capacity", "_tokens", "_at", "_clock", "_refused_second", "_refused_in_second")

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate_per_s)
        self.capacity = max(1.0, self.rate * BURST_S)
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()
        self._refused_second = -1
        self._refused_in_second = 0

    def admit(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        second = int(now)
        if second != self._refused_second:
            self._refused_second, self._refused_in_second = second, 0
        self._refused_in_second += 1
        return False

    def retry_after(self) -> int:
        """Whole seconds (HTTP's unit): the refused of one second are spread over the next ones."""
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(self._refused_in_second / self.rate)))


class Refusal(asyncio.Protocol):
    """One refused handshake: read up to the end of the request headers, answer 503, close.

    While it waits for the headers it holds a descriptor, so it holds a slot of the HandshakeGate
    too; above the gate's caps it is closed at once without an answer.
    """

    __slots__ = ("_transport", "_response", "_seen", "_timer", "_gate", "_metrics", "_source")
    HEAD_LIMIT = 16_384  # a request head larger than this is not a charger's: close without answering
    IDLE_S = 10.0

    def __init__(self, retry_after: int, gate: HandshakeGate | None = None, metrics: Metrics | None = None) -> None:
        body = b"this replica is taking too many new chargers; retry later\n"
        self._response = (
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (retry_after, len(body), body)
        )
        self._seen = b""
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._gate = gate
        self._metrics = metrics
        self._source: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        idle_s = self.IDLE_S
        if self._gate is not None:
            source = source_of(transport.get_extra_info("peername"))
            verdict = self._gate.enter(source)
            if verdict not in (None, ON_PROBATION):
                if self._metrics is not None:
                    self._metrics.rejected(verdict)
                transport.abort()
                return
            self._source = source
            if verdict == ON_PROBATION:  # above its source's cap: it gets less time to send its request
                idle_s = GRACE_S
        self._transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(idle_s, transport.close)

    def data_received(self, data: bytes) -> None:
        self._seen = (self._seen + data)[-self.HEAD_LIMIT:]
        if b"\r\n\r\n" in self._seen and self._transport is not None:
            self._transport.write(self._response)
            self._transport.close()
            self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None
        if self._source is not None and self._gate is not None:
            self._gate.leave(self._source)
            self._source = None
