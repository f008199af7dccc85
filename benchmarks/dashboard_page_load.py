"""How long the dashboard's pages take to show their data, cold, in Debian's headless Chromium.

    python -m benchmarks.dashboard_page_load --out benchmarks/results/dashboard/page_load.json

Sets up a realistic state (several local environments, one of them 1,000 chargers on 2 replicas
released to v2 while the dashboard watched it), starts `envctl dashboard`, and loads each page
`--repeats` times in a fresh browser context (empty cache): navigation start until the browser's
load event, and until the page shows the data of its first event (table rows, chart samples).
Also times the JSON API the pages stand on. The page load while a 30,000-charger release runs is
measured by dashboard_feed.py.
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

import httpx

from benchmarks.harness.dashboard import CHROMIUM, FLAGS, READY, dashboard, summarise, timed_load


def envctl(state: str, *args: str) -> str:
    env = {**os.environ, "ENVCTL_STATE_DIR": state, "KUBECONFIG": "/nonexistent"}
    res = subprocess.run([sys.executable, "-m", "envctl", *args], env=env, capture_output=True, text=True, timeout=600)
    if res.returncode != 0 and args[:2] != ("release", "start"):
        raise SystemExit(f"envctl {' '.join(args)} failed: {res.stderr}")
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small-envs", type=int, default=5)
    ap.add_argument("--chargers", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/dashboard/page_load.json"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    state = tempfile.mkdtemp(prefix="dash-pageload-")
    names = [f"small-{i}" for i in range(args.small_envs)]
    try:
        for name in names:
            envctl(state, "up", name, "--runtime", "local", "--chargers", "20", "--replicas", "1", "--output", "json")
        envctl(state, "up", "big", "--runtime", "local", "--chargers", str(args.chargers), "--replicas", "2",
               "--server-version", "v1", "--output", "json")  # fmt: skip
        out_dir = args.out.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        load0 = os.getloadavg()
        with dashboard(state, out_dir / "page_load_dashboard.log") as (url, _server), sync_playwright() as pw:
            plan = json.loads(envctl(state, "release", "plan", "--env", "big", "--to", "v2", "--budget", "100",
                                     "--hold", "5", "--output", "json"))  # fmt: skip
            envctl(state, "release", "approve", plan["id"], "--env", "big")
            envctl(state, "release", "start", plan["id"], "--env", "big", "--output", "json")
            time.sleep(6)  # the feed's tail after the release
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            pages = {
                "environments": (f"{url}/", READY["environments"]),
                "releases": (f"{url}/releases", READY["releases"]),
                "release (finished, 1,000 chargers)": (f"{url}/releases/{plan['id']}", READY["release"]),
            }
            results = {}
            for label, (page_url, ready) in pages.items():
                for viewport_label, viewport in (("1280px", {"width": 1280, "height": 900}), ("phone 390px", {"width": 390, "height": 844})):
                    timed_load(browser, page_url, ready, viewport)  # warm the server side once
                    samples = [timed_load(browser, page_url, ready, viewport) for _ in range(args.repeats)]
                    results[f"{label} @ {viewport_label}"] = {
                        "load_s": summarise(samples, "load_s"), "data_shown_s": summarise(samples, "data_shown_s"),
                        "bytes": samples[-1]["bytes"], "requests": samples[-1]["requests"],
                    }  # fmt: skip
                    print(label, viewport_label, results[f"{label} @ {viewport_label}"]["data_shown_s"], file=sys.stderr)
            browser.close()
            api = {}
            for path in ("/api/environments", "/api/releases", f"/api/releases/{plan['id']}", f"/api/releases/{plan['id']}/timeline"):
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    httpx.get(url + path, timeout=30).raise_for_status()
                    times.append({"s": time.perf_counter() - t0})
                api[path.replace(plan["id"], "ID")] = summarise(times, "s")
        doc = {
            "environments": len(names) + 1, "release_chargers": args.chargers, "repeats": args.repeats,
            "pages": results, "api_s": api,
            "loadavg_before": load0, "loadavg_after": os.getloadavg(),
            "machine": {"cpus": os.cpu_count(), "shared": True, "browser": "Debian chromium, headless, same machine"},
        }  # fmt: skip
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        for name in [*names, "big"]:
            subprocess.run([sys.executable, "-m", "envctl", "down", name, "--runtime", "local"],
                           env={**os.environ, "ENVCTL_STATE_DIR": state}, capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
