"""Load generator processes for the step load: open-loop, paced, each with its own event loop.

Open loop on purpose: work is offered on a fixed schedule whatever the replica's latency, so a
replica past its knee shows up as answers falling behind the schedule (and handler p99 rising),
instead of the load politely slowing down with it. The parent sends one command per step to
every worker and sums their answers; rates are split evenly across workers.

Work the generator could not even offer (every charger still waiting for its previous answer, or
too many handshakes outstanding) is counted as `skipped`, apart from `failures` (the replica
refused, closed or answered with an error).

    connect_step   open `rate` connections per second for `duration_s`, each a WebSocket
                   handshake + BootNotification + the charger's status reports; afterwards close
                   them all
    open           open `count` persistent connections (booted), kept for the message steps
    message_step   `rate` CALLs per second round-robin over the persistent connections
                   (Heartbeat, or MeterValues which the replica commits before answering)
    close_all      close the persistent connections
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from envctl.capacity.rawcharger import RawCharger, source_address

BOOT = '[2,"b","BootNotification",{"chargePointVendor":"envctl","chargePointModel":"capacity-step"}]'
HEARTBEAT = '[2,"h","Heartbeat",{}]'
IN_FLIGHT_CAP = 4000  # handshakes outstanding per worker: beyond this the worker, not the replica, is the limit
TICK_S = 0.002
GRACE_S = 0.25  # an answer counts for the step if it arrives this soon after the step's end


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _step_answer(offered: int, done_at: list[float], end: float, failures: list[str], skipped: int,
                 latencies: list[float]) -> dict[str, Any]:  # fmt: skip
    """What a worker tells the parent about one step (answers after end + GRACE_S are late)."""
    p99 = _percentile(latencies, 0.99)
    return {
        "offered": offered, "completed": len(done_at),
        "completed_in_window": sum(1 for t in done_at if t <= end + GRACE_S),
        "failures": len(failures), "skipped": skipped, "failure_examples": failures[:3],
        "client_p99_ms": None if p99 is None else round(p99 * 1000, 3),
    }  # fmt: skip


async def _schedule(rate: float, count: int, t_start: float) -> AsyncIterator[range]:
    """Yield the indices due so far, every TICK_S: a fixed schedule in batches, so the generator
    costs one wake-up per tick instead of one per call (timers are ~1 ms coarse anyway)."""
    sent = 0
    while sent < count:
        due = min(count, int((time.time() - t_start) * rate) + 1)
        if due > sent:
            yield range(sent, due)
            sent = due
        await asyncio.sleep(TICK_S)


def _status_frame(connector: int) -> bytes:
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return RawCharger.frame(
        f'[2,"s","StatusNotification",{{"connectorId":{connector},"errorCode":"NoError","status":"Available",'
        f'"timestamp":"{ts}"}}]'
    )


def _meter_frame(seq: int, base: datetime) -> bytes:
    ts = (base + timedelta(milliseconds=seq)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = (
        f'[2,"m","MeterValues",{{"connectorId":1,"meterValue":[{{"timestamp":"{ts}",'
        f'"sampledValue":[{{"value":"{seq}","measurand":"Energy.Active.Import.Register","unit":"Wh"}}]}}]}}]'
    )
    return RawCharger.frame(body)


class _Worker:
    def __init__(self, host: str, port: int, worker: int) -> None:
        self.host, self.port, self.worker = host, port, worker
        self.persistent: list[RawCharger] = []
        self.meter_seq = 0
        self.meter_base = datetime.now(timezone.utc)

    def _path(self, prefix: str, i: int) -> str:
        return f"/ocpp/{prefix}-w{self.worker}-{i}"

    async def _boot(self, path: str, source: str) -> RawCharger:
        c = await RawCharger.connect(self.host, self.port, path, source)
        answer = await c.call(RawCharger.frame(BOOT))
        if not answer.startswith(b"[3,"):
            c.close()
            raise ConnectionError(f"BootNotification answered {answer[:80]!r}")
        return c

    async def connect_step(self, rate: float, duration_s: float, start_at: float, prefix: str, first: int,
                           statuses: int = 0) -> dict[str, Any]:  # fmt: skip
        """A reconnect as a charger does it: handshake, BootNotification, then its status reports."""
        count = max(1, int(rate * duration_s))
        opened: list[RawCharger] = []
        latencies: list[float] = []
        failures: list[str] = []
        done_at: list[float] = []
        in_flight = 0
        skipped = 0

        async def one(i: int) -> None:
            nonlocal in_flight
            t0 = time.perf_counter()
            try:
                c = await self._boot(self._path(prefix, i), source_address(first + i))
                opened.append(c)
                for connector in range(statuses):
                    await c.call(_status_frame(connector))
                latencies.append(time.perf_counter() - t0)
                done_at.append(time.time())
            except (OSError, ConnectionError) as exc:
                failures.append(repr(exc)[:120])
            finally:
                in_flight -= 1

        await asyncio.sleep(max(0.0, start_at - time.time()))
        tasks = []
        t_start = time.time()
        async for due in _schedule(rate, count, t_start):
            for i in due:
                if in_flight >= IN_FLIGHT_CAP:
                    skipped += 1
                    continue
                in_flight += 1
                tasks.append(asyncio.ensure_future(one(i)))
        end = t_start + duration_s
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.1, end + 5.0 - time.time()))
        for t in tasks:
            t.cancel()
        for c in opened:
            c.close()
        return _step_answer(count, done_at, end, failures, skipped, latencies)

    async def open(self, count: int, prefix: str, first: int, statuses: int = 0, concurrency: int = 200) -> dict[str, Any]:
        """Persistent chargers: booted, then (like a real one) a StatusNotification per connector
        and for the charge point itself (`statuses` of them), so the replica holds what it would."""
        sem = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(i: int) -> None:
            async with sem:
                try:
                    c = await self._boot(self._path(prefix, i), source_address(first + i))
                    for connector in range(statuses):
                        await c.call(_status_frame(connector))
                    self.persistent.append(c)
                except (OSError, ConnectionError) as exc:
                    failures.append(repr(exc)[:120])

        await asyncio.gather(*(one(i) for i in range(count)))
        return {"opened": len(self.persistent), "failures": len(failures), "failure_examples": failures[:3]}

    async def message_step(self, kind: str, rate: float, duration_s: float, start_at: float) -> dict[str, Any]:
        idle = deque(c for c in self.persistent if not c.closed)
        if not idle:
            return _step_answer(0, [], 0.0, [], 0, [])
        heartbeat = RawCharger.frame(HEARTBEAT)
        count = max(1, int(rate * duration_s))
        latencies: list[float] = []
        done_at: list[float] = []
        failures: list[str] = []
        skipped = 0
        outstanding = 0
        all_answered = asyncio.get_running_loop().create_future()

        def answered(c: RawCharger, t0: float) -> Callable[[bytes | None], None]:
            def on_answer(payload: bytes | None) -> None:
                nonlocal outstanding
                outstanding -= 1
                if payload is None:
                    failures.append("connection lost")
                elif not payload.startswith(b"[3,"):
                    failures.append(payload[:80].decode(errors="replace"))
                else:
                    now = time.perf_counter()
                    latencies.append(now - t0)
                    done_at.append(time.time())
                if not c.closed:
                    idle.append(c)
                if outstanding == 0 and sending_done and not all_answered.done():
                    all_answered.set_result(None)

            return on_answer

        sending_done = False
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t_start = time.time()
        async for due in _schedule(rate, count, t_start):
            for _ in due:
                if not idle:  # one CALL outstanding per charger (OCPP): every one is waiting
                    skipped += 1
                    continue
                c = idle.popleft()
                if kind == "heartbeat":
                    frame = heartbeat
                else:
                    self.meter_seq += 1
                    frame = _meter_frame(self.meter_seq, self.meter_base)
                outstanding += 1
                c.send(frame, answered(c, time.perf_counter()))
        sending_done = True
        end = t_start + duration_s
        if outstanding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_answered, timeout=max(0.1, end + 5.0 - time.time()))
        return _step_answer(count, done_at, end, failures, skipped, latencies)

    async def close_all(self) -> dict[str, Any]:
        for c in self.persistent:
            c.close()
        closed = len(self.persistent)
        self.persistent = []
        await asyncio.sleep(0.1)
        return {"closed": closed}


def _worker_main(host: str, port: int, worker: int, commands: Any, results: Any) -> None:
    import uvloop

    async def serve() -> None:
        w = _Worker(host, port, worker)
        loop = asyncio.get_running_loop()
        while True:
            name, kwargs = await loop.run_in_executor(None, commands.get)
            if name == "exit":
                await w.close_all()
                return
            try:
                results.put((worker, await getattr(w, name)(**kwargs)))
            except Exception as exc:  # report it; the parent turns it into an error
                results.put((worker, {"error": f"{name}: {exc!r}"}))

    uvloop.run(serve())


class LoadWorkers:
    """`count` spawned load-generator processes, driven one step at a time."""

    def __init__(self, host: str, port: int, count: int = 1) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(count)]
        self.procs = [
            ctx.Process(target=_worker_main, args=(host, port, i, q, self.results), daemon=True, name=f"envctl-load-{i}")
            for i, q in enumerate(self.commands)
        ]
        for p in self.procs:
            p.start()

    @property
    def count(self) -> int:
        return len(self.procs)

    def run(self, name: str, timeout_s: float = 120.0, **kwargs: Any) -> list[dict[str, Any]]:
        """Send the same command to every worker (rates already split by the caller) and wait."""
        self.send(name, **kwargs)
        return self.collect(name, timeout_s)

    def send(self, name: str, **kwargs: Any) -> None:
        for q in self.commands:
            q.put((name, kwargs))

    def collect(self, name: str, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        answers: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(answers) < len(self.procs):
            left = deadline - time.monotonic()
            if left <= 0 or not all(p.is_alive() for p in self.procs):
                raise RuntimeError(f"load generator did not answer {name!r} (alive: {[p.is_alive() for p in self.procs]})")
            try:
                worker, result = self.results.get(timeout=min(1.0, left))
            except Exception:  # queue.Empty: keep waiting until the deadline
                continue
            if "error" in result:
                raise RuntimeError(f"load generator {worker}: {result['error']}")
            answers[worker] = result
        return [answers[i] for i in range(len(self.procs))]

    def close(self) -> None:
        for q in self.commands:
            q.put(("exit", {}))
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
