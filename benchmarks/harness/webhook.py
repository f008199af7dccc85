"""Shared by the webhook benchmarks: a fake GitHub API, a real `envctl webhook serve`, signed sends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness.processes import stop
from benchmarks.report import summary
from envctl.github.signature import sign
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

SECRET = "bench-secret"
REPO = "Codertocat/Hello-World"
PATH = "/webhooks/github"


class FakeProcess:
    """The fake GitHub API in its own process, so its CPU is not the load generator's."""

    def __init__(self, pulls: int, permissions: tuple[str, ...] = (), heads: dict[int, str] | None = None) -> None:
        args = [sys.executable, "-m", "tests.fakes.github_api", "--repo", REPO, "--pulls", str(pulls)]
        for item in permissions:
            args += ["--permission", item]
        for number, sha in (heads or {}).items():
            args += ["--pull", f"{number}={sha}"]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.token = FakeGitHub().token

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


class Serve:
    """`envctl webhook serve` as a separate process, the way it runs for real."""

    def __init__(self, fake: FakeGitHub | FakeProcess, state: Path, workers: int,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.state = state
        env = {
            **os.environ, "ENVCTL_STATE_DIR": str(state), "KUBECONFIG": str(state / "no-kubeconfig"),
            "ENVCTL_WEBHOOK_SECRET": SECRET, "ENVCTL_GITHUB_API_URL": fake.url, "ENVCTL_GITHUB_TOKEN": fake.token,
            "ENVCTL_GITHUB_WRITE_INTERVAL": "0", "ENVCTL_WEBHOOK_WORKERS": str(workers), **(extra_env or {}),
        }  # fmt: skip
        state.mkdir(parents=True, exist_ok=True)
        self.log = open(state / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envctl", "webhook", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"webhook serve did not start; see {state / 'serve.log'}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def deliveries(self) -> dict[str, int]:
        return httpx.get(self.url + "/readyz", timeout=5).json()["deliveries"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        stop(self.proc, 60)
        self.log.close()


def signed(event: str, payload: dict[str, Any], delivery: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body),
                  "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench"}


Job = tuple[bytes, dict[str, str]]


async def send_raw(url: str, jobs: list[Job], concurrency: int, burst_gap_s: float = 0.0
                   ) -> tuple[list[float], list[int], list[float], float]:
    """POST every job with `concurrency` in flight over keep-alive connections, HTTP/1.1 written by
    hand: (latencies, statuses, server-timing durations, this client's CPU seconds).

    GitHub's sender runs on GitHub's machines; here the load generator shares two cores with the
    server, so its own cost lands in the latency it measures. httpx's AsyncClient spends ~2-3 ms of
    CPU per request, a third of the machine at 8 in flight; this sender spends a tenth of that, so
    what it measures is the webhook, not the load generator. Requests are serialized before timing.

    burst_gap_s 0: every connection sends its next job as soon as it has an answer (closed loop).
    Otherwise bursts: `concurrency` jobs sent at once, all answered, then a pause of burst_gap_s, so
    a run lasts long enough for plans to start and finish during it."""
    host, port = url.removeprefix("http://").split(":")
    wire = []
    for body, headers in jobs:
        head = f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        wire.append(head.encode() + b"\r\n" + body)
    latencies: list[float] = []
    statuses: list[int] = []
    inside: list[float] = []
    cpu_started = time.process_time()

    async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await reader.readexactly(int(fields.get("content-length", "0")))
        latencies.append(time.perf_counter() - started)
        statuses.append(int(lines[0].split()[1]))
        if "dur=" in fields.get("server-timing", ""):
            inside.append(float(fields["server-timing"].split("dur=")[1]) / 1000)

    connections = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]
    try:
        if burst_gap_s:
            for i in range(0, len(wire), concurrency):
                await asyncio.gather(*(post(r, w, request) for (r, w), request in zip(connections, wire[i:i + concurrency])))
                await asyncio.sleep(burst_gap_s)
        else:
            pending = iter(wire)

            async def closed_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                for request in pending:
                    await post(reader, writer, request)

            await asyncio.gather(*(closed_loop(r, w) for r, w in connections))
    finally:
        for _, writer in connections:
            writer.close()
    return latencies, statuses, inside, time.process_time() - cpu_started


def summary_ms(values_s: list[float]) -> dict[str, float | int | None]:
    return summary(values_s, scale=1000, ndigits=2)
