"""Where the handler latency tail of a release on the real node comes from.

    python -m benchmarks.kubernetes_release_tail --chargers 2000 --budget 200 \
        --out benchmarks/results/release_k8s_2k/tail.json      # KUBECONFIG: the test cluster

Runs one graceful `envctl bench release --runtime kubernetes` and, while it runs, reads every
charger-server pod's /metrics through the API server's pod proxy once a second, plus each pod's CPU
throttling from its cgroup (this machine's node, cgroup v1) and the node's CPU use from
/proc/stat. The report gives, per second and per pod: messages answered and how many took longer
than 250 ms / 1 s, per action; group commits and their durations; the writes' wait for a commit;
throttled time. So a slow second can be laid next to what the database, the CFS quota and the
node were doing in it.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.kubernetes_node import config
from envctl.runtimes.kubernetes.client import Kube, kind
from envctl.runtimes.kubernetes.state import SERVER_ADMIN_PORT

SLOW = (0.25, 1.0)


def histograms(text: str) -> dict[str, dict[str, float]]:
    """{series: {bucket bound or 'count' or 'sum': value}} for the histograms a pod exports."""
    out: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(text):
        if fam.type != "histogram":
            continue
        for s in fam.samples:
            key = fam.name + ("/" + s.labels["action"] if "action" in s.labels else "")
            if s.name.endswith("_bucket"):
                out.setdefault(key, {})[s.labels["le"]] = s.value
            elif s.name.endswith("_count"):
                out.setdefault(key, {})["count"] = s.value
            elif s.name.endswith("_sum"):
                out.setdefault(key, {})["sum"] = s.value
    return out


def above(h: dict[str, float], bound: float) -> float:
    """How many observations were above `bound` (a bucket edge)."""
    return h.get("count", 0.0) - h.get(repr(bound), 0.0)


def throttled_ns(uid: str) -> int:
    total = 0
    for d in glob.glob(f"/sys/fs/cgroup/cpu/kubepods*/**/pod{uid}", recursive=True):
        try:
            for line in Path(d, "cpu.stat").read_text().splitlines():
                if line.startswith("throttled_time"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def node_busy() -> tuple[float, float]:
    parts = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class Sampler(threading.Thread):
    def __init__(self, kube: Kube) -> None:
        super().__init__(daemon=True)
        self.kube, self.stop, self.samples = kube, threading.Event(), []  # type: ignore[var-annotated]

    def pods(self) -> list[dict[str, Any]]:
        pods = self.kube.list(kind("Pod").path(), labelSelector="app.kubernetes.io/name=charger-server")
        return [p for p in pods if "bench" in p["metadata"]["namespace"] and p.get("status", {}).get("podIP")]

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            t = time.monotonic() - started
            busy = node_busy()
            row: dict[str, Any] = {"t": round(t, 2), "node_busy_jiffies": busy, "pods": {}}
            try:
                for p in self.pods():
                    ns, name, uid = p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["uid"]
                    try:
                        text = self.kube.request("GET", kind("Pod").path(ns, f"{name}:{SERVER_ADMIN_PORT}") + "/proxy/metrics",
                                                 raw=True, retry=False, timeout=2.0)
                    except Exception:
                        continue
                    row["pods"][name] = {"version": p["metadata"].get("labels", {}).get("envctl.io/server-version"),
                                         "hist": histograms(text),
                                         "throttled_ns": throttled_ns(uid)}  # fmt: skip
            except Exception as err:
                row["error"] = str(err)
            self.samples.append(row)
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started - t)))


def per_second(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for prev, cur in zip(samples, samples[1:]):
        busy = (cur["node_busy_jiffies"][0] - prev["node_busy_jiffies"][0]) / max(
            1.0, cur["node_busy_jiffies"][1] - prev["node_busy_jiffies"][1])
        row: dict[str, Any] = {"t": cur["t"], "node_cpu_busy": round(busy, 3), "pods": {}}
        for name, pod in cur["pods"].items():
            before = prev["pods"].get(name)
            if before is None:
                continue
            d: dict[str, Any] = {"version": pod["version"],
                                 "throttled_ms": round((pod["throttled_ns"] - before["throttled_ns"]) / 1e6, 1)}
            for key, h in pod["hist"].items():
                b = before["hist"].get(key, {})
                n = h.get("count", 0) - b.get("count", 0)
                if not n:
                    continue
                entry = {"n": int(n), "mean_ms": round((h.get("sum", 0) - b.get("sum", 0)) / n * 1000, 1)}
                for bound in SLOW:
                    entry[f"over_{int(bound * 1000)}ms"] = int(above(h, bound) - above(b, bound))
                d[key.replace("envctl_", "")] = entry
            row["pods"][name] = d
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=2000)
    ap.add_argument("--budget", type=float, default=200.0)
    ap.add_argument("--session-rate", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/release_k8s_2k/tail.json"))
    ap.add_argument("--large", action="store_true",
                    help="the 10,000-charger sizing of release_k8s_10k: server and simulator up to 2 cores and 2 GiB")
    args = ap.parse_args()
    pods = {"cpu": "200m", "cpu_limit": "2", "memory": "256Mi", "memory_limit": "2Gi"}
    env = config({"limits": {"max_cpu": "2", "max_memory": "2Gi"}, "server": pods, "simulator": pods,
                  "quota": {"cpu": "8", "cpu_limit": "16", "memory": "12Gi", "memory_limit": "16Gi"}}
                 if args.large else {})
    kube = Kube(env["KUBECONFIG"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = args.out.with_name(args.out.stem + "_release.json")
    sampler = Sampler(kube)
    sampler.start()
    load0 = os.getloadavg()
    done = subprocess.run([sys.executable, "-m", "envctl", "bench", "release", "--runtime", "kubernetes",
                           "--chargers", str(args.chargers), "--strategy", "graceful", "--budget", str(args.budget),
                           "--session-rate", str(args.session_rate), "--report", str(report), "--output", "json"],
                          env=env, check=False, stdout=subprocess.DEVNULL)  # fmt: skip
    sampler.stop.set()
    sampler.join(10)
    release = json.loads(report.read_text()) if report.exists() else {}
    rows = per_second(sampler.samples)
    slow = [{"t": r["t"], "node_cpu_busy": r["node_cpu_busy"], "pod": name, **d}
            for r in rows for name, d in r["pods"].items()
            if any(isinstance(v, dict) and v.get("over_250ms") for v in d.values())]  # fmt: skip
    doc = {"chargers": args.chargers, "budget_per_s": args.budget, "large": args.large, "exit_code": done.returncode,
           "load_average_before_after": [load0[0], os.getloadavg()[0]],
           "release": {k: release.get(k) for k in ("passed", "failures", "peak_reconnects_per_s", "connect_failures",
                                                   "duration_s")},
           "abort": (release.get("strategy_detail") or {}).get("abort"),
           "slow_seconds": slow, "per_second": rows}  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: doc[k] for k in ("release", "abort", "load_average_before_after")}, indent=2))
    print(f"{len(slow)} pod-seconds with messages over 250 ms; details in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
