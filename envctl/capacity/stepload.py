"""`envctl bench capacity`: measure one charger-server replica with a step load, write the profile.

One real replica (`envctl server`, its own process, the store it would use) and load generator
processes of its own (envctl/capacity/loadgen.py). Phases, in this order on a fresh replica:

1. memory: RSS idle, then with `hold_connections` booted chargers that reported their connectors'
   status, as real ones do -> bytes per connection;
   the open-file limit minus what the idle replica holds -> how many connections it can take.
2. connects: steps of new connections per second, each a handshake + BootNotification
   (committed before the answer) + a StatusNotification per connector and for the charge point,
   as a reconnecting charger sends them; the connections are closed between steps.
3. heartbeats, then durable messages (MeterValues, committed before the answer), as CALLs per
   second over `message_connections` persistent chargers.
4. shared store: durable messages again, split over two replicas writing to the same store, as a
   fleet's replicas do: what the store commits within the bound for the whole fleet.

Each ladder grows the rate by `growth` per step until a step fails (handler p99 over the bound,
answers behind the offered rate by more than 5 %, or any failure), then tries `refine` steps
between the last good and the first bad rate. The limit is the *achieved* rate of the best good
step. A step that fails only on throughput while the replica had CPU to spare means the load
generator, not the replica, ran out: the limit is then flagged `reached_ceiling`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from envctl.capacity.loadgen import LoadWorkers
from envctl.capacity.profile import CapacityProfile, Limit, Memory, Step
from envctl.capacity.scrape import ReplicaProbe, delta, fraction_within, quantile
from envctl.errors import ConfigError, EnvctlError, Timeout

Say = Callable[[str], None]
KEEP_UP_RATIO = 0.95  # answers in the step's window must reach this share of what was offered
IDLE_CPU_SPARE = 0.8  # a replica below this many cores was not the bottleneck
FD_HEADROOM = 64  # descriptors kept back for the store, logs and admin connections
SHARED_STORE_WRITERS = 2  # replicas writing to one store in the shared-store phase
CONNECT_STEP_FD_SHARE = 0.8  # a connect step opens at most this share of the replica's connection room


@dataclass
class MeasureOptions:
    database_url: str | None = None  # None: SQLite in a temporary directory
    server_version: str = "bench"
    p99_bound_ms: float = 20.0
    step_s: float = 3.0
    growth: float = 1.5
    refine: int = 2
    retry: bool = True  # a failed step is run once more before it counts
    max_steps: int = 14
    connect_start: float = 50.0
    heartbeat_start: float = 1000.0
    durable_start: float = 100.0
    hold_connections: int = 10_000
    message_connections: int = 2000
    connectors: int = 2  # per charger: each reports its connectors' and its own status after booting
    workers: int = 1
    server_args: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.p99_bound_ms <= 0 or self.step_s <= 0 or self.growth <= 1 or self.workers < 1:
            raise ConfigError("--p99-ms and --step must be positive, --growth above 1, --workers at least 1")
        if min(self.connect_start, self.heartbeat_start, self.durable_start) <= 0:
            raise ConfigError("start rates must be positive")
        if self.hold_connections < 100 or self.message_connections < 1:
            raise ConfigError("--hold-connections must be at least 100 and --message-connections at least 1")


def _quiet(_msg: str) -> None:
    return None


class _Replica:
    """A replica under test: `envctl server` in its own process, as the local runtime starts it."""

    def __init__(self, opts: MeasureOptions, workdir: Path, name: str = "capacity", database_url: str | None = None) -> None:
        self.database_url = database_url or opts.database_url or f"sqlite:///{workdir / 'capacity.db'}"
        ready = workdir / f"{name}.ready.json"
        self.log = workdir / f"{name}.log"
        args = [
            sys.executable, "-m", "envctl", "server", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0",
            "--database-url", self.database_url, "--server-version", opts.server_version,
            "--replica-id", name, "--heartbeat-interval", "3600", "--ready-file", str(ready), *opts.server_args,
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None:
                raise EnvctlError("the charger-server under test exited during start-up", self.log.read_text()[-2000:])
            if time.monotonic() > deadline:
                self.stop()
                raise Timeout("the charger-server under test was not ready after 60 s", f"see {self.log}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.port = int(info["ocpp_port"])
        self.probe = ReplicaProbe(f"http://127.0.0.1:{info['admin_port']}", self.proc.pid)

    def wait_connections(self, at_most: int, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        n = self.probe.connections()
        while n > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.probe.connections()
        return n

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if hasattr(self, "probe"):
            self.probe.close()


@dataclass
class _Ladder:
    name: str
    action: str  # the handler whose latency judges the step
    start: float
    run: Callable[[float, int], dict[str, int | float | None]]  # (rate, step number) -> summed worker answers


class Measurement:
    def __init__(self, opts: MeasureOptions, say: Say = _quiet) -> None:
        opts.check()
        self.opts, self.say = opts, say
        self.step_no = 0

    # -- one step ---------------------------------------------------------------------------

    def _step(self, replicas: list[_Replica], ladder: _Ladder, rate: float) -> Step:
        """One step on one replica, or on several sharing a store (their histograms and CPU summed)."""
        self.step_no += 1
        probes = [r.probe for r in replicas]
        before, cpu0, t0 = [p.buckets() for p in probes], sum(p.cpu_seconds() for p in probes), time.time()
        answers = ladder.run(rate, self.step_no)
        cpu1, t1 = sum(p.cpu_seconds() for p in probes), time.time()
        window = _summed([delta(p.buckets().get(ladder.action, []), b.get(ladder.action)) for p, b in zip(probes, before)])
        bound_s = self.opts.p99_bound_ms / 1000
        within = fraction_within(window, bound_s)
        p99 = quantile(window, 0.99)
        achieved = float(answers["completed_in_window"] or 0) / float(answers["duration_s"] or self.opts.step_s)
        failures = int(answers["failures"] or 0)
        skipped = int(answers["skipped"] or 0)
        cores = (cpu1 - cpu0) / max(1e-6, t1 - t0)
        why = []
        if within is None or within < 0.99:
            why.append(f"handler p99 {p99 * 1000:.1f} ms > {self.opts.p99_bound_ms:g} ms" if p99 else "no answers")
        if achieved < KEEP_UP_RATIO * rate:
            why.append(f"answered {achieved:.0f}/s of {rate:.0f}/s offered")
        if failures:
            why.append(f"{failures} failed")
        if skipped:
            why.append(f"{skipped} not offered: the generator's chargers were all waiting for answers")
        step = Step(
            offered_per_s=round(rate, 1), achieved_per_s=round(achieved, 1),
            handler_p99_ms=None if p99 is None else round(p99 * 1000, 3),
            within_bound_ratio=None if within is None else round(within, 5), failures=failures, skipped=skipped,
            cpu_cores=round(cores, 3), ok=not why, why_not="; ".join(why) or None,
        )  # fmt: skip
        verdict = "ok" if step.ok else f"over: {step.why_not}"
        self.say(f"{ladder.name}: {rate:,.0f}/s offered, {achieved:,.0f}/s answered, p99 {step.handler_p99_ms} ms, "
                 f"{cores:.2f} cores — {verdict}")  # fmt: skip
        return step

    def _climb(self, replica: _Replica | list[_Replica], ladder: _Ladder) -> Limit:
        replicas = replica if isinstance(replica, list) else [replica]
        steps: list[Step] = []
        best: Step | None = None
        first_bad: Step | None = None
        rate = ladder.start
        for _ in range(self.opts.max_steps):
            step = self._step(replicas, ladder, rate)
            steps.append(step)
            if not step.ok and self.opts.retry:  # the machine is shared: tell a hiccup from the knee
                step = self._step(replicas, ladder, rate)
                steps.append(step)
            if not step.ok:
                first_bad = step
                break
            best = step
            rate *= self.opts.growth
        if best is not None and first_bad is not None:
            lo, hi = best.offered_per_s, first_bad.offered_per_s
            for _ in range(self.opts.refine):
                mid = math.sqrt(lo * hi)
                step = self._step(replicas, ladder, mid)
                steps.append(step)
                if step.ok:
                    lo = mid
                    best = step if step.achieved_per_s > best.achieved_per_s else best
                else:
                    hi = mid
                    first_bad = step
        if best is None:
            return Limit(per_s=0.0, cpu_s_per_op=0.0, cpu_cores=0.0, steps=steps)
        generator_ran_out = first_bad is None or (
            first_bad.failures == 0
            and (first_bad.within_bound_ratio or 0) >= 0.99
            and first_bad.cpu_cores < IDLE_CPU_SPARE
        )
        return Limit(
            per_s=best.achieved_per_s,
            cpu_s_per_op=round(best.cpu_cores / max(best.achieved_per_s, 1e-9), 9),
            cpu_cores=best.cpu_cores,
            steps=steps,
            reached_ceiling=generator_ran_out,
        )

    # -- the phases -----------------------------------------------------------------------------

    def _memory(self, replica: _Replica, load: LoadWorkers) -> tuple[Memory, int]:
        idle_fds = replica.probe.open_files()
        limit = replica.probe.open_files_limit() - idle_fds - FD_HEADROOM
        hold = min(self.opts.hold_connections, max(100, limit - 100))
        time.sleep(0.5)
        base = replica.probe.rss()
        per = hold // load.count
        self.say(f"memory: opening {hold:,} chargers")
        opened = load.run("open", timeout_s=300, count=per, prefix="mem", first=0, statuses=self.opts.connectors + 1)
        time.sleep(1.0)  # let allocator and GC settle before reading RSS
        rss = replica.probe.rss()
        held = replica.probe.connections()
        failures = sum(int(o["failures"]) for o in opened)
        load.run("close_all")
        replica.wait_connections(at_most=0)
        time.sleep(1.5)  # the replica records the disconnects lazily (about once a second)
        if held <= 0:
            raise EnvctlError(f"no charger stayed connected to the replica under test ({failures} failed to open)")
        per_conn = max(0, (rss - base) // held)
        self.say(f"memory: {base / 2**20:.1f} MiB idle, {per_conn / 1024:.1f} KiB per connection over {held:,}; "
                 f"room for {limit:,} connections")  # fmt: skip
        return Memory(base_bytes=base, per_connection_bytes=per_conn, connections_measured=held), limit

    def _connects_ladder(self, load: LoadWorkers, replica: _Replica, conn_limit: int) -> _Ladder:
        def run(rate: float, step: int) -> dict[str, int | float | None]:
            # A step's connections stay open until it ends: keep them within what the replica
            # (and each load worker, under the same per-process limit) can hold.
            duration = min(self.opts.step_s, CONNECT_STEP_FD_SHARE * conn_limit / rate)
            answers = load.run(
                "connect_step", timeout_s=duration + 60, rate=rate / load.count, duration_s=duration,
                start_at=time.time() + 0.3, prefix=f"cap{step}", first=step * 1_000_000,
                statuses=self.opts.connectors + 1,
            )  # fmt: skip
            replica.wait_connections(at_most=0)  # the next step starts from an empty replica
            return {**_sum(answers), "duration_s": duration}

        return _Ladder("connects", "BootNotification", self.opts.connect_start, run)

    def _message_ladder(self, load: LoadWorkers, kind: str, action: str, start: float) -> _Ladder:
        def run(rate: float, _step: int) -> dict[str, int | float | None]:
            answers = load.run(
                "message_step", timeout_s=self.opts.step_s + 60, kind=kind, rate=rate / load.count,
                duration_s=self.opts.step_s, start_at=time.time() + 0.3,
            )  # fmt: skip
            time.sleep(0.3)  # outstanding answers drain before the next step is judged
            return {**_sum(answers), "duration_s": self.opts.step_s}

        return _Ladder("heartbeats" if kind == "heartbeat" else "durable messages", action, start, run)

    def _shared_store(self, workdir: Path, first: _Replica, first_load: LoadWorkers) -> Limit:
        """Durable writes with SHARED_STORE_WRITERS replicas on the one store, as a fleet has them:
        the store does not grow with the replicas (one SQLite file, one Postgres primary)."""
        second = _Replica(self.opts, workdir, name="capacity-2", database_url=first.database_url)
        load = LoadWorkers("127.0.0.1", second.port, 1)
        try:
            load.run("open", timeout_s=300, count=self.opts.message_connections // 2, prefix="msg2", first=6_000_000)

            def run(rate: float, _step: int) -> dict[str, int | float | None]:
                start_at = time.time() + 0.3
                per = rate / (first_load.count + load.count)
                first_load.send("message_step", kind="meter", rate=per, duration_s=self.opts.step_s, start_at=start_at)
                load.send("message_step", kind="meter", rate=per, duration_s=self.opts.step_s, start_at=start_at)
                answers = first_load.collect("message_step", self.opts.step_s + 60) + load.collect(
                    "message_step", self.opts.step_s + 60)
                time.sleep(0.3)
                return {**_sum(answers), "duration_s": self.opts.step_s}

            ladder = _Ladder("durable messages, store shared by 2 replicas", "MeterValues", self.opts.durable_start, run)
            return self._climb([first, second], ladder)
        finally:
            load.close()
            second.stop()

    def run(self) -> CapacityProfile:
        workdir = Path(tempfile.mkdtemp(prefix="envctl-capacity-"))
        load_at_start = os.getloadavg()
        replica = _Replica(self.opts, workdir)
        load = LoadWorkers("127.0.0.1", replica.port, self.opts.workers)
        try:
            memory, conn_limit = self._memory(replica, load)
            connects = self._climb(replica, self._connects_ladder(load, replica, conn_limit))
            per = self.opts.message_connections // load.count
            self.say(f"messages: opening {per * load.count:,} chargers")
            load.run("open", timeout_s=300, count=per, prefix="msg", first=5_000_000)
            heartbeats = self._climb(replica, self._message_ladder(load, "heartbeat", "Heartbeat", self.opts.heartbeat_start))
            durable = self._climb(replica, self._message_ladder(load, "meter", "MeterValues", self.opts.durable_start))
            shared = self._shared_store(workdir, replica, load)
            load.run("close_all")
        finally:
            load.close()
            replica.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        return CapacityProfile(
            measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            server_version=self.opts.server_version,
            database=replica.database_url.split(":", 1)[0],
            p99_bound_ms=self.opts.p99_bound_ms,
            connects=connects,
            heartbeats=heartbeats,
            durable_messages=durable,
            memory=memory,
            connections_limit=conn_limit,
            connect_statuses=self.opts.connectors + 1,
            shared_store=shared,
            shared_store_writers=SHARED_STORE_WRITERS,
            conditions={
                "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                "loadavg_at_start": list(load_at_start), "loadavg_at_end": list(os.getloadavg()),
                "load_workers": self.opts.workers, "step_s": self.opts.step_s,
                "note": "replica and load generator share this machine; a busy machine measures lower limits",
            },
        )  # fmt: skip


def _summed(windows: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    total: dict[float, float] = {}
    for w in windows:
        for le, n in w:
            total[le] = total.get(le, 0.0) + n
    return sorted(total.items())


def _sum(answers: list[dict[str, object]]) -> dict[str, int | float | None]:
    keys = ("offered", "completed", "completed_in_window", "failures", "skipped")
    return {k: sum(int(a.get(k, 0) or 0) for a in answers) for k in keys}  # type: ignore[call-overload]


def measure(opts: MeasureOptions, say: Say = _quiet) -> CapacityProfile:
    return Measurement(opts, say).run()
