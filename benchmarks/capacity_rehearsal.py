"""Is `envctl capacity` right? Predicted against measured, at the predicted size, on this machine.

    python -m benchmarks.capacity_rehearsal --profile benchmarks/results/capacity/profile.json \
        --chargers 30000 --report benchmarks/results/capacity/rehearsal_30k.json

1. predict: `envctl capacity` for the fleet (replicas, requests, storm, release budget/duration);
2. up: the fleet on the local runtime with the predicted number of replicas;
3. steady: messages/s, handler p99, CPU and RSS per replica, against the prediction and requests;
4. spike: (spike - 1) x the steady light load added by load-generator chargers: p99 must hold;
5. storm: chargers disconnected (and reconnecting at once) at 0.5 ... 1.5 x the predicted storm
   rate, a few seconds per step: the highest rate the fleet answered with p99 within the bound,
   no connect failures and reconnects keeping up is the measured storm;
6. release: a graceful release of the same fleet at the predicted budget (`envctl release plan /
   approve / start`): measured duration, peak reconnects and the new replicas' p99 against the
   predicted.

The simulator runs on the same two cores as the replicas (a real fleet's chargers do not), so the
measured storm is expected below the prediction here; the report says by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.harness.local import down, envctl, sim_seconds, temporary_postgres
from envctl.capacity.arithmetic import Fleet
from envctl.capacity.loadgen import LoadWorkers
from envctl.capacity.scrape import delta, fraction_within, handler_buckets, quantile
from envctl.capacity.service import answer
from envctl.charger import rates
from envctl.charger.simulator.settings import parse_session_minutes
from envctl.release import pacing
from envctl.runtimes.local import LocalRuntime

Buckets = list[tuple[float, float]]


class Fleetview:
    """The running replicas, read from outside: admin API, /metrics, the kernel."""

    def __init__(self, runtime: LocalRuntime, name: str) -> None:
        self.runtime, self.name = runtime, name
        token = runtime.admin_token(name)  # the replicas' mutating admin endpoints want it
        self.http = httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"} if token else {})
        self.env_dir = runtime.env_dir(name)

    def replicas(self) -> list[Any]:
        return [r for r in self.runtime.server_replicas(self.name) if r.alive]

    def stats(self) -> dict[str, dict[str, Any]]:
        return {r.id: self.http.get(f"{r.admin_url}/admin/stats").json() for r in self.replicas()}

    def all_buckets(self) -> dict[str, Buckets]:
        """Each action's handler histogram summed over the replicas, and all of them ("all")."""
        sums: dict[str, dict[float, float]] = {}
        for r in self.replicas():
            for action, b in handler_buckets(self.http.get(f"{r.admin_url}/metrics").text).items():
                for key in (action, "all"):
                    for le, n in b:
                        sums.setdefault(key, {})[le] = sums.setdefault(key, {}).get(le, 0.0) + n
        return {k: sorted(v.items()) for k, v in sums.items()}

    def cpu(self) -> dict[str, float]:
        out = {}
        for r in self.replicas():
            t = psutil.Process(r.pid).cpu_times()
            out[r.id] = t.user + t.system
        return out

    def rss(self) -> dict[str, int]:
        return {r.id: psutil.Process(r.pid).memory_info().rss for r in self.replicas()}

    def sim(self) -> dict[str, Any]:
        return dict(json.loads((self.env_dir / "sim-status.json").read_text()))

    def sim_seconds(self, key: str, since: float, until: float) -> list[int]:
        return sim_seconds(self.env_dir, key, since, until)

    def wait_connected(self, chargers: int, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(int(s["connections"]) for s in self.stats().values()) >= chargers:
                return
            time.sleep(0.5)


class Window:
    """What the fleet did between two instants: p99 over every handled message, CPU, messages."""

    def __init__(self, view: Fleetview) -> None:
        self.view = view
        self.t0, self.b0, self.c0 = time.time(), view.all_buckets(), view.cpu()
        self.m0 = {rid: int(s["messages_total"]) for rid, s in view.stats().items()}

    def close(self, bound_ms: float) -> dict[str, Any]:
        t1, b1, c1 = time.time(), self.view.all_buckets(), self.view.cpu()
        m1 = {rid: int(s["messages_total"]) for rid, s in self.view.stats().items()}
        window = delta(b1.get("all", []), self.b0.get("all"))
        by_action = {a: quantile(delta(b, self.b0.get(a)), 0.99) for a, b in b1.items() if a != "all"}
        elapsed = t1 - self.t0
        p99 = quantile(window, 0.99)
        within = fraction_within(window, bound_ms / 1000)
        return {
            "seconds": round(elapsed, 2),
            "messages_per_s": round(sum(m1.get(r, 0) - self.m0.get(r, 0) for r in m1) / elapsed, 1),
            "handler_p99_ms": None if p99 is None else round(p99 * 1000, 3),
            "within_bound_ratio": None if within is None else round(within, 5),
            "cpu_cores_per_replica": {r: round((c1[r] - self.c0.get(r, c1[r])) / elapsed, 3) for r in c1},
            "handler_p99_ms_by_action": {a: round(q * 1000, 3) for a, q in sorted(by_action.items()) if q is not None},
        }


def storm_step(view: Fleetview, rate: float, seconds: float, bound_ms: float) -> dict[str, Any]:
    """Disconnect chargers at `rate` per second fleet-wide for `seconds` (the release engine's token
    bucket and proportional split); every one reconnects at once, as firmware does."""
    window = Window(view)
    bucket = pacing.new_bucket(rate, time.time())
    t0 = time.time()
    sent = 0
    urls = {r.id: r.admin_url for r in view.replicas()}
    stats, stats_at = view.stats(), time.time()
    while time.time() < t0 + seconds:
        now = time.time()
        if now - stats_at > 0.2:  # connection counts for the split; not on every batch
            stats, stats_at = view.stats(), now
        bucket, granted = pacing.take(bucket, int(rate), now)
        if granted:
            for rid, n in pacing.split_proportionally(granted, {k: int(s["connections"]) for k, s in stats.items()}).items():
                sent += int(view.http.post(f"{urls[rid]}/admin/disconnect", json={"count": n}).json()["closed"])
        time.sleep(max(0.005, min(0.05, pacing.seconds_until(bucket, pacing.batch_size(bucket), time.time()))))
    t1 = time.time()
    time.sleep(2.0)  # the last ones land; the simulator rewrites its status about once a second
    measured = window.close(bound_ms)
    reconnects = view.sim_seconds("reconnects", int(t0) + 1, int(t1))  # whole seconds inside the step
    failures = sum(view.sim_seconds("connect_failures", int(t0), int(t1) + 2))
    server = rates.merge(*[(s.get("connects_per_second") or []) for s in view.stats().values()])
    server_inside = [n for sec, n in server.items() if int(t0) + 1 <= sec < int(t1)]
    achieved = sum(reconnects) / max(1, len(reconnects))
    ok = (measured["within_bound_ratio"] or 0) >= 0.99 and failures == 0 and achieved >= 0.95 * rate
    return {"offered_per_s": round(rate, 1), "disconnected": sent, "reconnects_per_s_mean": round(achieved, 1),
            "server_connects_per_s_peak": max(server_inside, default=0), "connect_failures": failures,
            "ok": ok, **measured}  # fmt: skip


def release(env: dict[str, str], view: Fleetview, budget: float, hold_s: float, bound_ms: float) -> dict[str, Any]:
    """A graceful release of the whole fleet at the predicted budget, through the CLI as an SRE runs it."""
    plan = envctl(env, "release", "plan", "--env", "fleet", "--to", "v2", "--budget", str(budget), "--hold", f"{hold_s:g}s")
    envctl(env, "release", "approve", plan["id"], "--env", "fleet")
    t0 = time.time()
    done = subprocess.run([sys.executable, "-m", "envctl", "release", "start", plan["id"], "--env", "fleet", "--output",
                           "json"], env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
    t1 = time.time()
    if done.returncode not in (0, 1):  # 1: the release did not complete (rolled back): a result, not a crash
        raise SystemExit(f"envctl release start exited {done.returncode}: {done.stderr[-3000:]}")
    status = json.loads(done.stdout)
    time.sleep(2.0)  # the simulator's per-second counts catch up
    reconnects = view.sim_seconds("reconnects", int(t0), int(t1) + 2)
    new = [r for r in view.replicas() if r.id in status["new_replicas"]]
    p99 = {}
    for r in new:  # the new replicas saw only the release: their whole histogram is its window
        for action, b in handler_buckets(view.http.get(f"{r.admin_url}/metrics").text).items():
            q = quantile(b, 0.99)
            p99[action] = max(p99.get(action, 0.0), round((q or 0) * 1000, 3))
    return {
        "phase": status["phase"], "abort": (status.get("abort") or {}).get("reason"),
        "duration_s": round(status["finished_at"] - status["started_at"], 1),
        "wall_s": round(t1 - t0, 1), "budget_per_s": budget, "peak_reconnects_per_s": max(reconnects, default=0),
        "connect_failures": sum(view.sim_seconds("connect_failures", int(t0), int(t1) + 2)),
        "rate_factor_end": status.get("rate_per_s"), "handler_p99_ms_by_action_new": p99,
        "within_bound": all(v <= bound_ms for v in p99.values()),
    }  # fmt: skip


def main() -> None:
    args = _args()
    if not args.postgres:
        rehearse(args)
        return
    with temporary_postgres() as pg:
        if not args.profile.exists():  # a profile of one replica on this same store
            envctl({**os.environ}, "bench", "capacity", "--report", str(args.profile), "--database-url",
                   pg.create_database(), timeout=3600)  # fmt: skip
        args.database_url = pg.create_database()
        rehearse(args)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", type=Path, default=Path("benchmarks/results/capacity/profile.json"))
    ap.add_argument("--chargers", type=int, default=30_000)
    ap.add_argument("--heartbeat", type=float, default=60.0)
    ap.add_argument("--session-rate", type=float, default=6.0)
    ap.add_argument("--session-minutes", default="1-2", help="short sessions: steady state within minutes")
    ap.add_argument("--meter-interval", type=float, default=10.0)
    ap.add_argument("--spike", type=float, default=5.0)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--steady-s", type=float, default=60.0)
    ap.add_argument("--storm-factors", default="0.25,0.5,0.75,1.0,1.25")
    ap.add_argument("--storm-step-s", type=float, default=5.0)
    ap.add_argument("--skip-release", action="store_true")
    ap.add_argument("--replicas", type=int, default=None, help="override the predicted count (experiments)")
    ap.add_argument("--database-url", default=None, help="the fleet's store (default: the local runtime's SQLite)")
    ap.add_argument("--postgres", action="store_true", help="measure the profile and run the fleet on a temporary PostgreSQL")
    ap.add_argument("--report", type=Path, default=Path("benchmarks/results/capacity/rehearsal_30k.json"))
    return ap.parse_args()


def rehearse(args: argparse.Namespace) -> None:
    lo, hi = parse_session_minutes(args.session_minutes)
    fleet = Fleet(chargers=args.chargers, heartbeat_s=args.heartbeat, session_rate=args.session_rate,
                  session_minutes=(lo + hi) / 2, meter_interval_s=args.meter_interval, spike=args.spike,
                  hold_s=args.hold)  # fmt: skip
    predicted = answer(fleet, args.profile)
    bound = float(predicted["profile"]["p99_bound_ms"])
    replicas = args.replicas or int(predicted["replicas"])
    print(f"predicted: {json.dumps({k: predicted[k] for k in ('replicas', 'requests', 'storm_absorbed_per_s', 'release_budget_per_s', 'release_duration_s')})}", flush=True)

    state = Path(tempfile.mkdtemp(prefix="envctl-rehearsal-"))
    env = {**os.environ, "ENVCTL_STATE_DIR": str(state), "KUBECONFIG": str(state / "none")}
    load_at_start = os.getloadavg()
    envctl(env, "up", "fleet", "--runtime", "local", "--chargers", str(args.chargers), "--replicas", str(replicas),
           "--heartbeat-interval", str(int(args.heartbeat)), "--session-rate", str(args.session_rate),
           "--session-minutes", args.session_minutes, "--meter-interval", str(args.meter_interval),
           "--timeout", "1200", *(["--database-url", args.database_url] if args.database_url else []))  # fmt: skip
    view = Fleetview(LocalRuntime(state), "fleet")
    measured: dict[str, Any] = {}
    try:
        # Steady state: every charger has heartbeated once and sessions have reached their level.
        time.sleep(max(args.heartbeat, hi * 60) + 10)
        steady = Window(view)
        time.sleep(max(args.steady_s, args.heartbeat))  # a whole heartbeat period: boots were bunched
        measured["steady"] = steady.close(bound) | {"rss_mb_per_replica": {k: round(v / 2**20, 1) for k, v in view.rss().items()}}
        print(f"steady: {measured['steady']}", flush=True)

        extra = (args.spike - 1) * predicted["steady"]["light_per_s"]
        port = view.replicas()[0].ocpp_port
        load = LoadWorkers("127.0.0.1", port, 1)
        try:
            load.run("open", timeout_s=300, count=500, prefix="spike", first=7_000_000)
            spike = Window(view)
            answers = load.run("message_step", timeout_s=120, kind="heartbeat", rate=extra, duration_s=10.0,
                               start_at=time.time() + 0.2)  # fmt: skip
            measured["spike"] = spike.close(bound) | {"extra_heartbeats_per_s": round(extra, 1),
                                                      "answered": answers[0]["completed"], "failures": answers[0]["failures"]}  # fmt: skip
            load.run("close_all")
        finally:
            load.close()
        print(f"spike: {measured['spike']}", flush=True)

        storm = float(predicted["storm_absorbed_per_s"])
        steps = []
        for factor in [float(f) for f in args.storm_factors.split(",")]:
            view.wait_connected(args.chargers)
            step = storm_step(view, factor * storm, args.storm_step_s, bound) | {"factor": factor}
            print(f"storm x{factor}: {step}", flush=True)
            steps.append(step)
        good = [s for s in steps if s["ok"]]
        measured["storm"] = {"steps": steps, "absorbed_per_s": max((s["reconnects_per_s_mean"] for s in good), default=0.0)}
        measured["rss_mb_per_replica_after"] = {k: round(v / 2**20, 1) for k, v in view.rss().items()}
        if not args.skip_release and predicted["release_budget_per_s"] > 0:
            view.wait_connected(args.chargers)
            measured["release"] = release(env, view, float(predicted["release_budget_per_s"]), args.hold, bound)
            print(f"release: {measured['release']}", flush=True)
    finally:
        down(env, "fleet")

    mem_request_mb = float(predicted["requests"]["memory"].removesuffix("Mi"))
    cpu_request = float(predicted["requests"]["cpu"].removesuffix("m")) / 1000
    rss_steady = max(measured["steady"]["rss_mb_per_replica"].values())
    rss_after = max(measured.get("rss_mb_per_replica_after", {"-": 0}).values())
    storm_cpu = max((max(s["cpu_cores_per_replica"].values()) for s in measured["storm"]["steps"]), default=0.0)
    comparison = [
        {"what": "steady messages/s (fleet)", "predicted": round(predicted["steady"]["light_per_s"] + predicted["steady"]["durable_per_s"], 1),
         "measured": measured["steady"]["messages_per_s"]},
        {"what": f"handler p99 at steady load (ms, bound {bound:g})", "predicted": f"<= {bound:g}", "measured": measured["steady"]["handler_p99_ms"]},
        {"what": f"handler p99 at {args.spike:g}x spike (ms)", "predicted": f"<= {bound:g}", "measured": measured["spike"]["handler_p99_ms"]},
        {"what": "memory per replica (MiB): request vs RSS at steady load", "predicted": mem_request_mb, "measured": rss_steady},
        {"what": "memory per replica (MiB): request vs RSS after the storms", "predicted": mem_request_mb, "measured": rss_after},
        {"what": "CPU per replica (cores): request vs busiest storm step", "predicted": cpu_request, "measured": storm_cpu},
        {"what": "storm absorbed (reconnects/s)", "predicted": predicted["storm_absorbed_per_s"], "measured": measured["storm"]["absorbed_per_s"]},
    ]  # fmt: skip
    if "release" in measured:
        comparison += [
            {"what": "release duration (s)", "predicted": predicted["release_duration_s"], "measured": measured["release"]["duration_s"]},
            {"what": "release peak reconnects/s (budget)", "predicted": predicted["release_budget_per_s"], "measured": measured["release"]["peak_reconnects_per_s"]},
        ]  # fmt: skip
    for row in comparison:
        p, m = row["predicted"], row["measured"]
        row["measured_over_predicted"] = round(m / p, 3) if isinstance(p, (int, float)) and isinstance(m, (int, float)) and p else None
    report = {
        "benchmark": "capacity_rehearsal", "chargers": args.chargers, "fleet": predicted["fleet"],
        "store": "postgresql" if args.database_url else "sqlite",
        "predicted": predicted, "measured": measured, "comparison": comparison,
        "conditions": {"loadavg_at_start": load_at_start, "loadavg_at_end": os.getloadavg(), "cpus": os.cpu_count(),
                       "note": "replicas, the simulator and other engineers' work share 2 cores"},
    }  # fmt: skip
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(comparison, indent=2))


if __name__ == "__main__":
    main()
