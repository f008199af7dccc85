"""Real processes for the edge's tests: edge processes, envctl's server and a central system on
the `ocpp` package, all on ephemeral loopback ports.

    backend_kind        "envctl" | "ocpp": every test taking it runs against both kinds
    start_backend(...)  a backend process of that kind (see BackendProcess); kill() is kill -9
    start_edge(...)     `python -m envctl.edge` with the given backends (EdgeProcess)

envctl's servers behind one edge share one SQLite database, as replicas of one environment do.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from envctl.charger.server.auth import hash_password
from tests.integration.charger.conftest import ServerProcess

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
TOKEN = "edge-test-token-0123456789"


def _read_ready(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 20) -> dict[str, Any]:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            if b"\n" in buf:
                return dict(json.loads(buf.split(b"\n", 1)[0]))
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"not ready in {timeout}s: {log_path.read_text()[-3000:]}")


class BackendProcess:
    def __init__(self, kind: str, name: str, proc: subprocess.Popen[bytes] | None, port: int,
                 log: Path | None = None, server: ServerProcess | None = None) -> None:
        self.kind, self.name, self.proc, self.port, self.frames_log, self.server = kind, name, proc, port, log, server

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def spec(self) -> str:
        return f"{self.name}={self.url}@{self.name}-version"

    @property
    def pid(self) -> int:
        return self.server.pid if self.server is not None else self.proc.pid  # type: ignore[union-attr]

    def kill(self) -> None:
        """kill -9."""
        os.kill(self.pid, signal.SIGKILL)
        (self.server.proc if self.server else self.proc).wait(10)  # type: ignore[union-attr]

    def received(self, cid: str) -> list[Any]:
        """(ocpp backend) the frames it received from `cid`, parsed, in order."""
        assert self.frames_log is not None
        out = []
        for line in self.frames_log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("cid") == cid and "frame" in entry:
                out.append(json.loads(entry["frame"]))
        return out

    def entries(self, cid: str, key: str) -> list[Any]:
        assert self.frames_log is not None
        return [json.loads(line)[key] for line in self.frames_log.read_text().splitlines()
                if json.loads(line).get("cid") == cid and key in json.loads(line)]

    async def call_charger(self, cid: str, action: str, payload: dict[str, Any]) -> httpx.Response:
        """(envctl backend) a backend-initiated CALL through its admin API."""
        assert self.server is not None
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{self.server.admin_url}/admin/chargers/{cid}/call",
                                     json={"action": action, "payload": payload})


class EdgeProcess:
    def __init__(self, proc: subprocess.Popen[bytes], ready: dict[str, Any], log_path: Path) -> None:
        self.proc, self.ready, self.log_path = proc, ready, log_path
        self.port = int(ready["ocpp_port"])
        self.admin_url = f"http://127.0.0.1:{ready['admin_port']}"

    def url(self, cid: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{cid}"

    def admin(self, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, self.admin_url + path, headers=headers, timeout=10, **kwargs)

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/admin/stats").json())

    def connections(self) -> dict[str, int]:
        return {b["id"]: b["connections"] for b in self.stats()["backends"]}

    async def wait_for(self, predicate: Any, timeout: float = 15, what: str = "condition") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = await asyncio.to_thread(self.stats)
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"edge: {what} not reached in {timeout}s: {json.dumps(stats)[:2000]}")
            await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(params=["envctl", "ocpp"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_backend(tmp_path: Path, backend_kind: str) -> Iterator[Any]:
    started: list[BackendProcess] = []

    def factory(name: str, *, password: str | None = None) -> BackendProcess:
        if backend_kind == "envctl":
            args = ["--database-url", f"sqlite:///{tmp_path / 'fleet.db'}", "--server-version", name,
                    "--replica-id", name]
            if password is not None:
                creds = tmp_path / f"creds-{name}.json"
                creds.write_text(json.dumps({cid: hash_password(password, iterations=1000)
                                             for cid in ("CP1", "CP2", "CP3")}))
                args += ["--basic-auth-file", str(creds)]
            sp = ServerProcess.start(tmp_path, *args)
            backend = BackendProcess("envctl", name, None, sp.ocpp_port, server=sp)
        else:
            log = tmp_path / f"{name}-frames.jsonl"
            err = tmp_path / f"{name}.log"
            cmd = [sys.executable, str(HERE / "ocpp_backend.py"), "--port", "0", "--log", str(log)]
            if password is not None:
                cmd += ["--password", password]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err.open("wb"), cwd=REPO,
                                    env=os.environ | {"PYTHONPATH": str(REPO)})
            ready = _read_ready(proc, err)
            backend = BackendProcess("ocpp", name, proc, int(ready["port"]), log=log)
        started.append(backend)
        return backend

    yield factory
    for b in started:
        proc = b.server.proc if b.server else b.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def start_edge(tmp_path: Path) -> Iterator[Any]:
    started: list[EdgeProcess] = []

    def factory(*backends: BackendProcess, args: tuple[str, ...] = (), port: int = 0,
                descriptors: int | None = None) -> EdgeProcess:
        """`descriptors`: run it under `ulimit -n` (soft and hard), as a host with that limit would."""
        cmd = [sys.executable, "-m", "envctl.edge", "--port", str(port), "--edge-id", f"edge{len(started) + 1}"]
        for b in backends:
            cmd += ["--backend", b.spec]
        cmd += list(args)
        if descriptors is not None:
            cmd = ["bash", "-c", f'ulimit -n {descriptors} && exec "$@"', "edge", *cmd]
        log_path = tmp_path / f"edge-{len(started) + 1}.log"
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_path.open("wb"), cwd=REPO,
                                env=os.environ | {"PYTHONPATH": str(REPO), "ENVCTL_ADMIN_TOKEN": TOKEN})
        edge = EdgeProcess(proc, _read_ready(proc, log_path), log_path)
        started.append(edge)
        return edge

    yield factory
    for e in started:
        if e.proc.poll() is None:
            e.proc.send_signal(signal.SIGTERM)
            try:
                e.proc.wait(10)
            except subprocess.TimeoutExpired:
                e.proc.kill()
                e.proc.wait(10)
