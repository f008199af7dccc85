"""Shared parts of the charger-server benchmarks: start `envctl server`, run load clients in other processes.

The clients are separate processes (multiprocessing, spawn) so the server's numbers are not
inflated by sharing its event loop; each client binds its sockets to source addresses spread over
127.0.0.0/8 (local_addr=(127.0.0.X, 0)) so tens of thousands of connections do not exhaust one
address's ephemeral port range.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.harness.processes import stop
from benchmarks.report import machine

# The lean load client lives in envctl now (`envctl bench capacity` uses it); re-exported for the scripts here.
from envctl.capacity.rawcharger import RawCharger, source_address  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, *args: str, database_url: str | None = None, root: Path = REPO,
                 env: dict[str, str] | None = None) -> None:
        """`root`: the checkout whose envctl runs (another commit's tree, for side-by-side runs)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="envctl-serverbench-"))
        self.database_url = database_url or f"sqlite:///{self.tmp / 'server.db'}"
        cmd = [sys.executable, "-c", "from envctl.cli.app import main; main()", "server", "--port", "0",
               "--database-url", self.database_url, *args]
        self.log = self.tmp / "server.log"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log.open("wb"), cwd=root,
                                     env=os.environ | {"PYTHONPATH": str(root)} | (env or {}))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"server did not start: {self.log.read_text()[-2000:]}")
        self.ready = json.loads(line)
        self.port = self.ready["ocpp_port"]
        self.admin = f"http://127.0.0.1:{self.ready['admin_port']}"
        self.ps = psutil.Process(self.proc.pid)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.admin + "/admin/stats", timeout=10).json()

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        stop(self.proc, 30)


def _client_entry(fn_path: str, kwargs: dict[str, Any], out: Any) -> None:
    import uvloop

    module, name = fn_path.split(":")
    fn = getattr(__import__(module, fromlist=[name]), name)
    try:
        out.put(uvloop.run(fn(**kwargs)))
    except BaseException as exc:  # report, don't hang the parent
        out.put({"error": repr(exc)})


def run_clients(fn_path: str, kwargs_list: list[dict[str, Any]], timeout: float = 600) -> list[dict[str, Any]]:
    """Run fn(**kwargs) in one spawned process per kwargs; return their results."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client_entry, args=(fn_path, kw, out)) for kw in kwargs_list]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(30)
    return results


def conditions() -> dict[str, Any]:
    return machine(loadavg_at_start=os.getloadavg(),
                   note="shared 2-core machine; other engineers' processes may compete for CPU")
