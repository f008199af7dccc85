"""Shared by the dashboard benchmarks: start a real dashboard, open pages in Debian's Chromium,
time how long a page takes until it shows its data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.report import summary
from tests.fixtures.ports import free_port

TOKEN = "benchmark-dashboard-token-0001"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
READY = {  # what each page shows once its first event has been rendered
    "environments": "() => document.querySelectorAll('#environments tbody tr').length > 0",
    "release": "() => /\\d+ samples/.test(document.getElementById('chart-conn-summary').textContent)",
    "releases": "() => document.querySelectorAll('#releases tbody tr').length > 0",
}


@contextmanager
def dashboard(state_dir: str, log: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    env = {**os.environ, "ENVCTL_STATE_DIR": state_dir, "ENVCTL_DASHBOARD_TOKEN": TOKEN, "KUBECONFIG": "/nonexistent"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "envctl", "dashboard", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            raise SystemExit(f"dashboard did not start: {log.read_text()}")
        time.sleep(0.1)
    try:
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def timed_load(browser: Any, url: str, ready_js: str, viewport: dict[str, int] | None = None) -> dict[str, Any]:
    """A cold load (fresh context, empty cache): navigation start to the page showing its data."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    sizes: list[int] = []

    def on_response(resp: Any) -> None:
        if "events" not in resp.url:  # event streams never finish: their bytes are counted elsewhere
            try:
                sizes.append(len(resp.body()))
            except Exception:
                pass

    page.on("response", on_response)
    t0 = time.perf_counter()
    page.goto(url, wait_until="load")
    loaded = time.perf_counter() - t0
    page.wait_for_function(ready_js, timeout=30_000, polling=10)
    shown = time.perf_counter() - t0
    nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    context.close()
    import json

    timing = json.loads(nav)
    return {"load_s": round(loaded, 4), "data_shown_s": round(shown, 4),
            "dom_content_loaded_ms": round(timing["domContentLoadedEventEnd"], 1),
            "bytes": sum(sizes), "requests": len(sizes)}  # fmt: skip


def summarise(samples: list[dict[str, Any]], key: str) -> dict[str, float | int | None]:
    return summary([s[key] for s in samples], ndigits=4)


def tree_cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total
