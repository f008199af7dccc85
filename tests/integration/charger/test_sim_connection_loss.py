"""A server that goes away while chargers flush their transaction backlog must not wedge the worker.

Regression: chargers had transaction messages queued when the server restarted (1012). A timer
(here: the retry of a message the server had refused) woke a charger's sender in the same loop
iteration in which the dead connection was noticed, before the charger's reader had run. On a
closed connection `ws.send()` raises without yielding to the event loop; the sender swallowed
that and went on to the next message, forever. The reader never ran again, nor did any other
charger of that worker: they stopped reconnecting and the loop lag grew without bound.

What lines the two up in production is a busy worker (15,000 chargers reconnecting at once);
here the peer keeps the loop busy for a moment right after the restart, so the retry timers are
due when the closed sockets are read. A wedged loop cannot time itself out, so a watchdog thread
interrupts it and the test fails with the reason instead of hanging. The simulator runs on both
event loops it meets: uvloop in worker processes, asyncio in tests and `envctl sim` in-process.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop
from websockets.asyncio.server import ServerConnection

from envctl.charger.protocol.frames import Call, CallError, CallResult, parse
from envctl.charger.simulator import ledger
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from tests.integration.charger.sim_peer import Peer, Received

pytestmark = pytest.mark.timeout(90)

TX = ("StartTransaction", "MeterValues", "StopTransaction")
CHARGERS = [f"CP{n:06d}" for n in range(1, 5)]
BYSTANDER = "HB1"
RETRY_S = 0.5  # TransactionMessageRetryInterval: how long a refused message waits
BUSY_S = 0.7  # the loop is busy this long after the restart (longer than RETRY_S: the retries are due)
WEDGE_LIMIT_S = 2.0  # a loop silent this long is wedged: interrupt it and fail


class RestartingPeer(Peer):
    """The test peer, plus a server in trouble: it refuses the first transaction message of each
    charger in `refuse_first_tx` with a CALLERROR, and `restart()` says 1012 to chargers and drops
    their TCP connections without waiting for a close reply (what a restarting server does to
    chargers that are slow to answer)."""

    def __init__(self) -> None:
        super().__init__(interval=60)
        self.refuse_first_tx: set[str] = set()
        self.refused: dict[str, float] = {}  # charger -> when its message was refused
        self.restart_after_tx: set[str] = set()  # answer the next transaction message, then restart
        self.restarted: dict[str, float] = {}

    async def _on_frame(self, ws: ServerConnection, charger: str, ip: str, raw: str | bytes) -> None:
        frame = parse(raw)
        if charger in self.restart_after_tx and isinstance(frame, Call) and frame.action in TX:
            self.restart_after_tx.discard(charger)
            self.received.append(Received(charger, frame.action, frame.payload, time.monotonic(), ip, frame.unique_id))
            answer = CallResult(frame.unique_id, self._answer(charger, frame.payload, frame.action))
            ws.protocol.send_text(answer.encode().encode())
            self.restart([charger], busy_for=0)
            self.restarted[charger] = time.monotonic()
            return
        if charger in self.refuse_first_tx and isinstance(frame, Call) and frame.action in TX:
            self.refuse_first_tx.discard(charger)
            self.received.append(Received(charger, frame.action, frame.payload, time.monotonic(), ip, frame.unique_id))
            await ws.send(CallError(frame.unique_id, "InternalError", "shutting down").encode())
            self.refused[charger] = time.monotonic()
            self._changed.set()
            return
        await super()._on_frame(ws, charger, ip, raw)

    def restart(self, chargers: list[str], busy_for: float) -> None:
        for charger in chargers:
            ws = self.connections[charger]
            ws.protocol.send_close(1012, "service restart")
            ws.transport.write(b"".join(ws.protocol.data_to_send()))
            ws.transport.close()
        if busy_for:
            # The worker's loop is busy for a moment right after (a timer due now runs after the
            # I/O callbacks of the next iteration, i.e. once the chargers have read the close frames).
            asyncio.get_running_loop().call_later(0, time.sleep, busy_for)
        self._changed.set()


class LoopWedged(BaseException):
    """Raised into a loop that stopped running (BaseException: no `except Exception` swallows it)."""


class LoopWatch:
    """A 50 ms ticker on the event loop, and a thread that interrupts the loop if it goes silent."""

    PERIOD = 0.05

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.gaps: list[tuple[float, float]] = []  # (when, how late the ticker ran)
        self.wedged_for = 0.0  # how long the loop was silent when the watchdog had to step in
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.last = time.monotonic()
        self._loop.call_later(self.PERIOD, self._tick)
        self._thread.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.gaps.append((now, now - self.last - self.PERIOD))
        self.last = now
        if not self._stop.is_set():
            self._loop.call_later(self.PERIOD, self._tick)

    def worst_gap_since(self, t: float) -> float:
        return max((gap for at, gap in self.gaps if at - gap >= t), default=0.0)

    def _watch(self) -> None:
        # After the first interrupt, further ones come quickly: every charger's sender may be
        # spinning in turn, and each spin writes ledger lines as fast as it can.
        interrupted_at = 0.0
        while not self._stop.wait(0.05):
            now = time.monotonic()
            silent = now - max(self.last, interrupted_at)
            if silent > (0.3 if self.wedged_for else WEDGE_LIMIT_S):
                self.wedged_for = max(self.wedged_for, now - self.last)
                interrupted_at = now
                assert self._main is not None
                signal.pthread_kill(self._main, signal.SIGUSR1)

    def check(self) -> None:
        if self.wedged_for:
            raise AssertionError(f"the event loop was wedged (silent for {self.wedged_for:.1f} s): a busy loop")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _raise_wedged(signum: int, frame: Any) -> None:
    raise LoopWedged()


async def until(peer: Peer, watch: LoopWatch, predicate: Callable[[], Any], timeout: float, what: str) -> None:
    def ok() -> Any:
        watch.check()  # fail at once, with the reason, rather than after the timeout
        return predicate()

    try:
        await peer.wait_for(ok, timeout=timeout)
    except AssertionError as err:
        watch.check()
        raise AssertionError(f"{what}: {err}") from None


async def scenario(tmp_path: Path, watch: LoopWatch) -> dict[str, Any]:
    peer = await RestartingPeer().start()
    watch.start()
    cfg = SimConfig(
        url=peer.url,
        chargers=len(CHARGERS),
        meter_interval=0.05,
        session_minutes=(0.02, 0.02),  # 1.2 s sessions, ending while the server is unreachable
        backoff_min=0.2,
        tx_retry_interval=RETRY_S,
        ledger_dir=str(tmp_path / "ledger"),
        seed=11,
    )
    flushing = Worker(cfg, Shard(0, 0, len(CHARGERS)))
    bystander = Worker(SimConfig(url=peer.url, id_pattern="HB{n}", heartbeat_interval=0.1, seed=12), Shard(1, 0, 1))
    flushing.start()
    bystander.start()
    try:
        await until(peer, watch, lambda: all(peer.messages(cp, "StatusNotification") for cp in CHARGERS), 10, "boot")
        for cp in CHARGERS:
            await peer.call(cp, "RemoteStartTransaction", {"idTag": f"T{cp[-1]}", "connectorId": 1})
        await until(peer, watch, lambda: all(peer.messages(cp, "MeterValues") for cp in CHARGERS), 5, "sessions")

        # Unreachable while the sessions run out: every charger queues a backlog.
        peer.refuse = True
        for cp in CHARGERS:
            await peer.drop(cp)
        await until(peer, watch, lambda: flushing.stats.sessions_stopped == len(CHARGERS), 5, "sessions end")
        depth = {cp.id: len(cp.txq or ()) for cp in flushing.chargers}
        assert min(depth.values()) >= 10, depth  # the premise: a deep queue to flush

        # Back, but in trouble: the first message of each backlog is refused, to be retried in
        # RETRY_S; before that, the server restarts.
        peer.refuse_first_tx = set(CHARGERS)
        peer.refuse = False
        await until(peer, watch, lambda: len(peer.refused) == len(CHARGERS), 5, "first messages refused")
        await until(
            peer,
            watch,
            lambda: all(cp.pump_task is None and cp.wake_timer is not None for cp in flushing.chargers),
            RETRY_S / 2,
            "chargers waiting to retry",
        )
        assert time.monotonic() - min(peer.refused.values()) < RETRY_S  # no retry has gone out yet
        restarted = time.monotonic()
        peer.restart(CHARGERS, BUSY_S)
        await asyncio.sleep(0)
        busy_over = restarted + BUSY_S

        def booted_after_restart(cp: str) -> bool:
            return any(m.at > restarted for m in peer.messages(cp, "BootNotification"))

        def heartbeats_since(t: float) -> int:
            return sum(1 for m in peer.messages(BYSTANDER, "Heartbeat") if m.at >= t)

        await until(peer, watch, lambda: all(booted_after_restart(cp) for cp in CHARGERS), 5, "reconnect after restart")
        await until(peer, watch, lambda: flushing.stats.tx_queued == 0, 10, "backlog flushed")
        await until(peer, watch, lambda: heartbeats_since(busy_over) >= 5, 5, "bystander heartbeats")
        watch.check()
        ended = time.monotonic()
        reboots = {
            cp: min(m.at for m in peer.messages(cp, "BootNotification") if m.at > restarted) - restarted
            for cp in CHARGERS
        }
        beats = [busy_over, *(m.at for m in peer.messages(BYSTANDER, "Heartbeat") if m.at > busy_over), ended]
        flushing.ledger.flush()
        return {
            "peer": peer,
            "reboots": reboots,
            "beat_gaps": [b - a for a, b in itertools.pairwise(beats)],
            "loop_gap": watch.worst_gap_since(busy_over),
            "stats": flushing.stats,
        }
    finally:
        await flushing.stop()
        await bystander.stop()
        await peer.stop()
        watch.stop()


def _history(tmp_path: Path) -> list[dict[str, Any]]:
    """Every line of the ledger: one per change of a message, in order."""
    with open(ledger.ledger_path(str(tmp_path / "ledger"), 0), "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


RUNNERS: dict[str, Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]]] = {
    "uvloop": uvloop.run,
    "asyncio": asyncio.run,
}


@pytest.mark.parametrize("loop", list(RUNNERS))
def test_a_restart_while_chargers_flush_their_backlog_does_not_wedge_the_worker(tmp_path: Path, loop: str) -> None:
    watch = LoopWatch()
    previous = signal.signal(signal.SIGUSR1, _raise_wedged)
    try:
        out = RUNNERS[loop](scenario(tmp_path, watch))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    watch.check()
    peer: RestartingPeer = out["peer"]

    # Every charger was back within a couple of seconds of the restart (one of them busy) ...
    assert max(out["reboots"].values()) < BUSY_S + 2.0, out["reboots"]
    # ... and once the busy moment was over the loop ran freely: timers fired on time and another
    # charger of the same loop kept heartbeating every 0.1 s.
    assert out["loop_gap"] < 1.0, out["loop_gap"]
    assert max(out["beat_gaps"]) < 1.0, out["beat_gaps"]

    # Every message of the backlog reached the server and was acknowledged exactly once.
    history = _history(tmp_path)
    latest = {row["id"]: row for row in history}
    assert {r["state"] for r in latest.values()} == {"acknowledged"}
    acks = Counter(row["id"] for row in history if row["state"] == "acknowledged")
    assert set(acks) == set(latest) and set(acks.values()) == {1}, acks.most_common(3)
    stats = out["stats"]
    assert stats.tx_dropped == 0 and stats.tx_acknowledged == len(latest)
    for cp in CHARGERS:
        mine = [r for r in latest.values() if r["charger"] == cp]
        # Sent at most three times: refused, cut off by the restart, acknowledged (a busy loop
        # would "send" it thousands of times); nothing else more than twice (in flight at a drop).
        assert max(r["attempts"] for r in mine) <= 3, sorted(r["attempts"] for r in mine)
        assert sum(1 for r in mine if r["attempts"] > 2) <= 1
        at_server = Counter(orjson.dumps([m.action, m.payload]) for m in peer.messages(cp) if m.action in TX)
        assert len(at_server) == len(mine), (cp, len(at_server), len(mine))


async def test_a_restart_right_after_an_answer_reconnects_every_charger_without_error_noise(tmp_path: Path) -> None:
    """The answer, the 1012 and the end of the connection arrive together while the charger is
    flushing: its next send waits for the close and fails. Every charger comes back and flushes,
    and nothing is left for asyncio to log ("exception was never retrieved" x a whole fleet)."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    peer = await RestartingPeer().start()
    cfg = SimConfig(url=peer.url, chargers=len(CHARGERS), meter_interval=0.05, session_minutes=(0.01, 0.01),
                    backoff_min=0.2, ledger_dir=str(tmp_path / "ledger"), seed=13)  # fmt: skip
    w = Worker(cfg, Shard(0, 0, len(CHARGERS)))
    w.start()
    try:
        await peer.wait_for(lambda: all(peer.messages(cp, "StatusNotification") for cp in CHARGERS), 10)
        peer.refuse = True  # a backlog of a whole 0.6 s session per charger
        for cp in CHARGERS:
            await peer.call(cp, "RemoteStartTransaction", {"idTag": f"R{cp[-1]}", "connectorId": 2})
            await peer.drop(cp)
        await peer.wait_for(lambda: w.stats.sessions_stopped == len(CHARGERS), 5)
        peer.restart_after_tx = set(CHARGERS)
        peer.refuse = False
        await peer.wait_for(lambda: len(peer.restarted) == len(CHARGERS), 5)
        await peer.wait_for(
            lambda: (
                w.stats.tx_queued == 0
                and all(
                    any(m.at > peer.restarted[cp] for m in peer.messages(cp, "BootNotification")) for cp in CHARGERS
                )
            ),
            5,
        )
        w.ledger.flush()
        rows = ledger.read_rows(str(tmp_path / "ledger"))
        assert len(rows) >= 10 * len(CHARGERS) and {r["state"] for r in rows} == {"acknowledged"}
    finally:
        await w.stop()
        await peer.stop()
        gc.collect()
        loop.set_exception_handler(None)
    assert not unhandled, [c.get("message") for c in unhandled]
