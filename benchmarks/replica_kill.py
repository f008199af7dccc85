"""kill -9 of one of 3 replicas holding 10,000 chargers (immediate reconnect), with and without
admission control: peak database commits/s (and rows/s), handler p99, time until every charger is
back, and whether anything was lost (the ledger against the database, whole history).

For each --rate (the replicas' --max-accept-rate; 0 = admission off, "default" = the server's
default) a fresh local environment is brought up through the local runtime (3 replicas, SQLite
by default, live charging sessions so transactions are in flight), left to settle, then the
replica holding the most chargers is killed with SIGKILL. Its chargers reconnect at once to the
two survivors. The survivors' exact per-second commit counts (`commits_per_second`,
`db_items_per_second` in /admin/stats) give the peaks; handler p99 is the highest the survivors
reported while the storm lasted; reconnected_s is from the kill until the survivors hold every
charger (their own connection counts, polled every 0.25 s), confirmed by the simulator.

    python -m benchmarks.replica_kill --chargers 10000 --rates 0 default 400 \\
        --report benchmarks/results/replica_kill_10k.json
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness.server import conditions
from benchmarks.report import write_report
from envctl.bench import transactions
from envctl.charger import rates
from envctl.charger.server.admission import DEFAULT_MAX_ACCEPT_RATE
from envctl.envs.model import EnvSpec
from envctl.runtimes.local import EnvRecord, LocalRuntime
from envctl.state import read_json


class Watch(threading.Thread):
    """Polls the survivors' /admin/stats and the simulator status every 0.25 s."""

    def __init__(self, urls: dict[str, str], sim_status: Path) -> None:
        super().__init__(daemon=True)
        self.urls, self.sim_status = urls, sim_status
        self.stop = threading.Event()
        self.stats: dict[str, dict[str, Any]] = {}
        self.p99: list[tuple[float, float]] = []
        self.sim: list[tuple[float, int]] = []
        self.held: list[tuple[float, int]] = []  # (time, connections on the survivors)
        self.last_sim: dict[str, Any] = {}

    def run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            while not self.stop.is_set():
                held, complete = 0, True
                for rid, url in self.urls.items():
                    try:
                        s = http.get(url + "/admin/stats").json()
                    except (httpx.HTTPError, ValueError):
                        complete = False
                        continue
                    self.stats[rid] = s
                    held += int(s.get("connections", 0))
                    if s.get("handler_p99_ms") is not None:
                        self.p99.append((time.time(), float(s["handler_p99_ms"])))
                if complete:
                    self.held.append((time.time(), held))
                try:
                    st = read_json(self.sim_status)
                    self.last_sim = st
                    self.sim.append((float(st["updated_at"]), int(st["connected"])))
                except (OSError, ValueError, KeyError):
                    pass
                self.stop.wait(0.25)


def one(rate: str, chargers: int, database_url: str | None, settle_s: float) -> dict[str, Any]:
    runtime = LocalRuntime()
    name = f"kill-{rate}-{os.getpid()}"
    runtime.down(name)
    server_args = [] if rate == "default" else ["--max-accept-rate", rate]
    # Sessions of 12-30 s, a MeterValues every 5 s: starts, samples and stops are in flight at the kill.
    spec = EnvSpec(name=name, chargers=chargers, replicas=3, session_rate=12.0, session_minutes="0.2-0.5",
                   meter_interval=5.0, reconnect="immediate", database_url=database_url, ready_timeout_s=600,
                   extra={"server_args": server_args})
    print(f"== max-accept-rate {rate}: up {chargers} chargers on 3 replicas", file=sys.stderr, flush=True)
    t_up = time.time()
    runtime.up(spec)
    up_s = time.time() - t_up
    try:
        record = EnvRecord.load(runtime.env_dir(name))
        time.sleep(settle_s)
        held = {}
        with httpx.Client(timeout=5) as http:
            for r in record.replicas:
                held[r.id] = int(http.get(f"{r.admin_url}/admin/stats").json()["connections"])
        victim = max(record.replicas, key=lambda r: held[r.id])
        survivors = {r.id: str(r.admin_url) for r in record.replicas if r.id != victim.id}
        assert record.simulator is not None
        watch = Watch(survivors, Path(record.simulator.status_file))
        watch.start()
        time.sleep(1.0)
        print(f"   kill -9 {victim.id} holding {held[victim.id]}", file=sys.stderr, flush=True)
        killed_at = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        # Back when the survivors hold every charger (the servers' count: the simulator's status file
        # lags by up to a second) and the simulator agrees in a status written after that.
        back_at = None
        deadline = killed_at + 300
        while time.time() < deadline and back_at is None:
            full = next((t for t, n in watch.held if t > killed_at and n >= chargers), None)
            if full is not None and any(t > full and n >= chargers for t, n in watch.sim):
                back_at = full
            time.sleep(0.25)
        time.sleep(5.0)  # the storm's tail: retries, queued transaction messages
        watch.stop.set()
        watch.join()
        sim_pid = record.simulator.pid
        os.kill(sim_pid, signal.SIGTERM)  # the simulator flushes its ledger on the way out
        for _ in range(200):
            try:
                os.kill(sim_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        tx = transactions.count(record.simulator.ledger_dir, record.database_url)
    finally:
        runtime.down(name)
    since, until = int(killed_at), int(back_at or time.time()) + 5
    commits = rates.merge(*(s.get("commits_per_second", []) for s in watch.stats.values()))
    items = rates.merge(*(s.get("db_items_per_second", []) for s in watch.stats.values()))
    connects = rates.merge(*(s.get("connects_per_second", []) for s in watch.stats.values()))
    refused = rates.merge(*(s.get("admission_refused_per_second", []) for s in watch.stats.values()))
    storm_p99 = [p for t, p in watch.p99 if killed_at <= t <= until]
    return {
        "max_accept_rate": DEFAULT_MAX_ACCEPT_RATE if rate == "default" else float(rate),
        "admission": rate != "0",
        "chargers": chargers,
        "up_s": round(up_s, 1),
        "victim_held": held[victim.id],
        "reconnected_s": round(back_at - killed_at, 2) if back_at else None,
        "peak_db_commits_per_s": rates.peak(commits, since, until),
        "peak_db_rows_per_s": rates.peak(items, since, until),
        "peak_connects_per_s": rates.peak(connects, since, until),
        "refused_handshakes": sum(n for s, n in refused.items() if since <= s <= until),
        "handler_p99_ms_max_during_storm": max(storm_p99, default=None),
        "per_second": [{"t": s - since, "connects": connects.get(s, 0), "commits": commits.get(s, 0),
                        "rows": items.get(s, 0), "refused": refused.get(s, 0),
                        "survivors_hold": _last(watch.held, s + 1), "sim_connected": _last(watch.sim, s + 1)}
                       for s in range(since, until + 1)],
        "survivor_counters": {rid: {k: st.get(k) for k in ("connects_total", "disconnects_total", "taken_over_total",
                                                          "superseded_writes_total", "claims_failed_total")}
                              for rid, st in watch.stats.items()},
        "simulator_at_end": {k: watch.last_sim.get(k) for k in ("connected", "reconnects_total", "connect_failures_total",
                                                                 "stalled_workers", "stalled_chargers")},
        "transactions": tx,
        "nothing_lost": not transactions.failures(tx),
    }


def _last(points: list[tuple[float, int]], before: float) -> int | None:
    seen = [n for t, n in points if t < before]
    return seen[-1] if seen else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=10_000)
    ap.add_argument("--rates", nargs="+", default=["0", "default"])
    ap.add_argument("--database-url", default=None, help="default: the runtime's SQLite file")
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--report", default="benchmarks/results/replica_kill_10k.json")
    args = ap.parse_args()
    cond = conditions()
    runs = [one(rate, args.chargers, args.database_url, args.settle) for rate in args.rates]
    report = {
        "benchmark": "replica_kill",
        "chargers": args.chargers,
        "replicas": 3,
        "database": "postgres" if args.database_url else "sqlite",
        "runs": runs,
        "conditions": cond | {"loadavg_at_end": os.getloadavg()},
    }
    write_report(args.report, report)


if __name__ == "__main__":
    main()
