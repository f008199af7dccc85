"""The live feed's cost during a big release: is the release's peak reconnect rate unchanged with
the dashboard page open, and what CPU does the dashboard server spend on it?

    python -m benchmarks.dashboard_feed --chargers 30000 --budget 500 --out benchmarks/results/dashboard/feed_30k.json

Runs the same graceful rehearsal (`envctl bench release`, fresh fleet each time) without a
dashboard and with one: a real `envctl dashboard` process, Debian's headless Chromium showing the
release page for the whole release, and a second raw event-stream subscriber counting the bytes
the server sends. Compares peak reconnects/s, connect failures and duration; reports the
dashboard process's CPU seconds over the release (its cost per second and per sample), the
browser's CPU, and how long the release page took to show its chart mid-release.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.harness.dashboard import CHROMIUM, FLAGS, READY, dashboard, timed_load, tree_cpu_s

KEYS = ("peak_reconnects_per_s", "peak_server_connects_per_s", "connect_failures", "duration_s", "release_s",
        "max_offline_s", "p99_offline_s", "chargers_disconnected_at_end")  # fmt: skip


def bench_cmd(args: argparse.Namespace, report: Path) -> list[str]:
    return [sys.executable, "-m", "envctl", "bench", "release", "--runtime", "local", "--chargers", str(args.chargers),
            "--strategy", "graceful", "--budget", str(args.budget), "--hold", str(args.hold),
            "--session-rate", str(args.session_rate), "--report", str(report), "--output", "json"]  # fmt: skip


def run_plain(args: argparse.Namespace, out_dir: Path, n: int) -> dict[str, Any]:
    state = tempfile.mkdtemp(prefix="dash-bench-plain-")
    report = out_dir / f"feed_plain_{n}.json"
    load0 = os.getloadavg()
    subprocess.run(bench_cmd(args, report), env={**os.environ, "ENVCTL_STATE_DIR": state, "KUBECONFIG": "/nonexistent"},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    doc = json.loads(report.read_text())
    return {k: doc.get(k) for k in KEYS} | {"transactions": doc.get("transactions"), "loadavg_before": load0,
                                             "loadavg_after": os.getloadavg(), "report": report.name}  # fmt: skip


class StreamCounter(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.bytes, self.messages, self.stop = url, 0, 0, threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=None) as resp:
                for line in resp.iter_lines():
                    self.bytes += len(line) + 1
                    if line.startswith("event: update"):
                        self.messages += 1
                    if self.stop.is_set():
                        return
        except httpx.HTTPError:
            return


def run_with_page(args: argparse.Namespace, out_dir: Path, n: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    state = tempfile.mkdtemp(prefix="dash-bench-page-")
    report = out_dir / f"feed_page_{n}.json"
    load0 = os.getloadavg()
    with dashboard(state, out_dir / f"feed_dashboard_{n}.log") as (url, server), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        bench = subprocess.Popen(bench_cmd(args, report), env={**os.environ, "ENVCTL_STATE_DIR": state, "KUBECONFIG": "/nonexistent"},
                                 stdout=subprocess.DEVNULL)  # fmt: skip
        plan_id = None
        while plan_id is None and bench.poll() is None:
            running = [r for r in httpx.get(url + "/api/releases", timeout=10).json()["releases"]
                       if r["phase"] not in ("Pending", "Completed", "Aborted", "Failed")]  # fmt: skip
            plan_id = running[0]["plan_id"] if running else None
            time.sleep(0.2)
        assert plan_id, "the release never appeared on the dashboard"
        cpu0, t0 = tree_cpu_s(server), time.time()
        counter = StreamCounter(f"{url}/api/releases/{plan_id}/events")
        counter.start()
        if not args.browser:  # the page's browser elsewhere (an SRE's laptop): only its stream here
            browser.close()
            return _server_only(args, url, server, plan_id, bench, report, counter, cpu0, t0, load0)
        load_mid = timed_load(browser, f"{url}/releases/{plan_id}", READY["release"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/releases/{plan_id}")
        chromium = [p for p in psutil.process_iter(["name", "cmdline"]) if "chromium" in (p.info["name"] or "")]
        chrome_cpu0 = sum(tree_cpu_s(p) for p in chromium if p.parent() and "chromium" not in (p.parent().name() or ""))
        phase = "Progressing"
        while phase not in ("Completed", "Aborted", "Failed"):
            time.sleep(0.5)
            phase = httpx.get(f"{url}/api/releases/{plan_id}", timeout=10).json()["phase"]
        cpu1, t1 = tree_cpu_s(server), time.time()
        points = int(page.get_attribute("#chart-conn", "data-points") or 0)
        rate_points = int(page.get_attribute("#chart-rate", "data-points") or 0)
        summary = page.locator("#chart-rate-summary").inner_text()
        chromium = [p for p in psutil.process_iter(["name"]) if "chromium" in (p.info["name"] or "")]
        chrome_cpu1 = sum(tree_cpu_s(p) for p in chromium if p.parent() and "chromium" not in (p.parent().name() or ""))
        counter.stop.set()
        page.screenshot(path=str(out_dir / f"feed_page_{n}.png"), full_page=True)
        context.close()
        bench.wait(timeout=600)
        browser.close()
    doc = json.loads(report.read_text())
    window = t1 - t0
    return {k: doc.get(k) for k in KEYS} | {
        "transactions": doc.get("transactions"),
        "plan_id": plan_id,
        "window_s": round(window, 1),
        "dashboard_cpu_s": round(cpu1 - cpu0, 3),
        "dashboard_cpu_share_of_one_core": round((cpu1 - cpu0) / window, 4),
        "browser_cpu_s": round(chrome_cpu1 - chrome_cpu0, 3),
        "chart_points": points, "rate_points": rate_points, "rate_summary": summary,
        "stream_update_messages": counter.messages,
        "stream_bytes": counter.bytes,
        "stream_bytes_per_s": round(counter.bytes / window, 1),
        "release_page_load_mid_release": load_mid,
        "loadavg_before": load0, "loadavg_after": os.getloadavg(),
        "report": report.name,
    }  # fmt: skip


def _server_only(args: argparse.Namespace, url: str, server: psutil.Process, plan_id: str, bench: subprocess.Popen[bytes],
                 report: Path, counter: StreamCounter, cpu0: float, t0: float, load0: tuple[float, ...]) -> dict[str, Any]:  # fmt: skip
    second = StreamCounter(f"{url}/api/releases/{plan_id}/events")  # two subscribers, as two open pages
    second.start()
    phase = "Progressing"
    while phase not in ("Completed", "Aborted", "Failed"):
        time.sleep(0.5)
        phase = httpx.get(f"{url}/api/releases/{plan_id}", timeout=10).json()["phase"]
    cpu1, t1 = tree_cpu_s(server), time.time()
    counter.stop.set()
    second.stop.set()
    bench.wait(timeout=600)
    doc = json.loads(report.read_text())
    window = t1 - t0
    return {k: doc.get(k) for k in KEYS} | {
        "transactions": doc.get("transactions"), "plan_id": plan_id, "window_s": round(window, 1),
        "browser": "none on this machine: two raw event-stream subscribers stand in for pages elsewhere",
        "dashboard_cpu_s": round(cpu1 - cpu0, 3), "dashboard_cpu_share_of_one_core": round((cpu1 - cpu0) / window, 4),
        "stream_update_messages": counter.messages, "stream_bytes_per_s": round(counter.bytes / window, 1),
        "loadavg_before": load0, "loadavg_after": os.getloadavg(), "report": report.name,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=30000)
    ap.add_argument("--budget", type=float, default=500.0)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--session-rate", type=float, default=6.0)
    ap.add_argument("--browser", action=argparse.BooleanOptionalAction, default=True,
                    help="show the page in Chromium on this machine (--no-browser: only event-stream subscribers)")
    ap.add_argument("--runs", type=int, default=1, help="pairs of (without, with) runs, alternating")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/dashboard/feed_30k.json"))
    args = ap.parse_args()
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    plain, paged = [], []
    for n in range(args.runs):
        print(f"== run {n + 1}: without the dashboard", file=sys.stderr, flush=True)
        plain.append(run_plain(args, out_dir, n))
        print(f"== run {n + 1}: with the release page open", file=sys.stderr, flush=True)
        paged.append(run_with_page(args, out_dir, n))
    doc = {
        "chargers": args.chargers, "budget_per_s": args.budget, "hold_s": args.hold, "session_rate": args.session_rate,
        "machine": {"cpus": os.cpu_count(), "note": "load averages before/after every run are in its entry"},
        "browser_on_this_machine": args.browser,
        "without_dashboard": plain, "with_release_page_open": paged,
        "peak_reconnects_per_s": {"without": [p["peak_reconnects_per_s"] for p in plain],
                                  "with_page": [p["peak_reconnects_per_s"] for p in paged]},
    }  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["peak_reconnects_per_s"]), file=sys.stderr)


if __name__ == "__main__":
    main()
