"""`envctl server` as a process: ready line, SIGTERM, kill -9 durability, SO_REUSEPORT replicas, CLI errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from envctl.charger.server.auth import hash_password
from envctl.charger.store import open_store
from tests.fixtures.ports import free_port
from tests.integration.charger.conftest import REPO, ServerProcess, boot, charger, ocpp_call

pytestmark = pytest.mark.timeout(30)


async def test_ready_line_ready_file_and_graceful_sigterm(tmp_path: Path, server_process: Any) -> None:
    ready_file = tmp_path / "ready.json"
    sp = server_process("--server-version", "v9", "--replica-id", "rep-a", "--ready-file", str(ready_file))
    assert sp.ready["event"] == "ready" and sp.ready["version"] == "v9" and sp.ready["replica_id"] == "rep-a"
    assert sp.ready["pid"] == sp.proc.pid and sp.ready["ocpp_port"] > 0 and sp.ready["admin_port"] > 0
    assert json.loads(ready_file.read_text()) == sp.ready
    assert sp.admin("GET", "/healthz").status_code == 200
    stats = sp.admin("GET", "/admin/stats").json()
    assert stats["version"] == "v9" and stats["replica_id"] == "rep-a" and stats["pid"] == sp.pid
    async with charger(sp.ocpp_url("CP1")) as ws:
        await boot(ws)
        await ocpp_call(ws, "Heartbeat", {})
        sp.proc.send_signal(15)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1001
    assert await asyncio.to_thread(sp.proc.wait, 15) == 0
    st = await open_store(f"sqlite:///{tmp_path / 'server.db'}")
    row = await st.get_charger("CP1")
    await st.close()
    assert row is not None and row["last_seen_at"] is not None  # the lazy last-seen was flushed on the way out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_kill_9_loses_nothing_that_was_acknowledged(tmp_path: Path, server_process: Any, backend: str,
                                                           request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'server.db'}" if backend == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    sp = server_process("--database-url", url)
    acknowledged: list[tuple[str, int, int]] = []  # (charger, meterStart, transactionId)
    stops: list[int] = []

    async def charge(i: int) -> None:
        cid = f"KILL{i}"
        with contextlib.suppress(ConnectionClosed, OSError, asyncio.TimeoutError):
            async with charger(sp.ocpp_url(cid)) as ws:
                await boot(ws)
                for n in range(10_000):
                    frame = await ocpp_call(ws, "StartTransaction", {
                        "connectorId": 1, "idTag": "T", "meterStart": n,
                        "timestamp": f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z"})
                    tx = frame[2]["transactionId"]
                    acknowledged.append((cid, n, tx))
                    frame = await ocpp_call(ws, "StopTransaction", {
                        "transactionId": tx, "meterStop": n + 1, "timestamp": "2024-05-01T10:05:00Z"})
                    if frame[0] == 3:
                        stops.append(tx)

    tasks = [asyncio.create_task(charge(i)) for i in range(40)]
    while len(acknowledged) < 400:
        await asyncio.sleep(0.05)
    sp.proc.kill()  # SIGKILL with writes in flight
    await asyncio.to_thread(sp.proc.wait, 10)
    await asyncio.wait_for(asyncio.gather(*tasks), 15)
    st = await open_store(url)
    try:
        rows = {r["id"]: r for r in await st.list_transactions()}
        missing = [a for a in acknowledged if a[2] not in rows]
        assert missing == [], f"{len(missing)} acknowledged StartTransactions lost"
        for cid, meter, tx in acknowledged:
            assert (rows[tx]["charger_id"], rows[tx]["meter_start"]) == (cid, meter)
        assert [tx for tx in stops if rows[tx]["meter_stop"] is None] == []
        assert await st.find_duplicate_transactions() == []
    finally:
        await st.close()


async def test_reuse_port_replicas_share_a_port_and_listen_false_routes_new_connections(
    tmp_path: Path, server_process: Any
) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    a = server_process("--port", str(port), "--reuse-port", "--replica-id", "a", "--database-url", db)
    b = server_process("--port", str(port), "--reuse-port", "--replica-id", "b", "--database-url", db)
    assert a.ocpp_port == b.ocpp_port == port
    async with contextlib.AsyncExitStack() as stack:
        for i in range(40):
            ws = await stack.enter_async_context(charger(a.ocpp_url(f"R{i}")))
            await ocpp_call(ws, "Heartbeat", {})
        counts = [s.admin("GET", "/admin/stats").json()["connections"] for s in (a, b)]
        assert sum(counts) == 40 and min(counts) > 0  # the kernel spread them over both listeners
        assert a.admin("POST", "/admin/listen", json={"accepting": False}).json() == {"accepting": False}
        assert a.admin("GET", "/readyz").status_code == 503
        for i in range(40, 70):
            ws = await stack.enter_async_context(charger(a.ocpp_url(f"R{i}")))
            await ocpp_call(ws, "Heartbeat", {})
        after = [s.admin("GET", "/admin/stats").json()["connections"] for s in (a, b)]
        assert after[0] == counts[0] and after[1] == counts[1] + 30  # all new ones went to b; a kept its own


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ServerProcess.command(*args), capture_output=True, text=True, cwd=REPO, timeout=20,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("args, expected", [
    (["--boot-status", "Maybe"], "Accepted, Pending, Rejected"),
    (["--allowlist", "/nonexistent/missing.txt"], "missing.txt"),
    (["--database-url", "mysql://x"], "sqlite:///"),
])
def test_bad_flags_are_config_errors(args: list[str], expected: str) -> None:
    done = run_cli("--port", "0", "--output", "json", *args)
    assert done.returncode == 2, done.stderr
    err = json.loads(done.stderr.strip().splitlines()[-1])
    assert err["error"] == "config" and expected in (err["message"] + (err["hint"] or ""))


def test_a_busy_port_is_a_config_error(tmp_path: Path) -> None:
    busy = free_port()
    with contextlib.closing(__import__("socket").create_server(("127.0.0.1", busy))):
        done = run_cli("--port", str(busy), "--database-url", f"sqlite:///{tmp_path / 'y.db'}")
    assert done.returncode == 2 and "listen" in done.stderr


async def test_cli_files_allowlist_auth_and_id_tags(tmp_path: Path, server_process: Any) -> None:
    (tmp_path / "allow.txt").write_text("# fleet\nCP1\nCP2\n")
    (tmp_path / "auth.json").write_text(json.dumps({"CP1": hash_password("pw-CP1-long-enough", iterations=10_000)}))
    (tmp_path / "tags.txt").write_text("GOOD\n")
    sp = server_process("--allowlist", str(tmp_path / "allow.txt"), "--basic-auth-file", str(tmp_path / "auth.json"),
                        "--id-tags", str(tmp_path / "tags.txt"), "--heartbeat-interval", "77")
    with pytest.raises(InvalidStatus) as err:
        async with charger(sp.ocpp_url("CP3")):
            pass
    assert err.value.response.status_code == 404
    import base64
    header = {"Authorization": "Basic " + base64.b64encode(b"CP1:pw-CP1-long-enough").decode()}
    async with charger(sp.ocpp_url("CP1"), additional_headers=header) as ws:
        assert (await boot(ws))["interval"] == 77
        assert (await ocpp_call(ws, "Authorize", {"idTag": "BAD"}))[2]["idTagInfo"]["status"] == "Invalid"


def test_module_help_lists_the_contract_flags() -> None:
    done = subprocess.run([sys.executable, "-c", "from envctl.cli.app import main; main()", "server", "--help"],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "COLUMNS": "200",
                                                                         "PATH": "/usr/bin:/bin"})
    for flag in ("--reuse-port", "--database-url", "--server-version", "--replica-id", "--ready-file",
                 "--max-frame-bytes", "--call-timeout", "--boot-status", "--basic-auth-file", "--tls-cert"):
        assert flag in done.stdout, flag
    assert "--fault" not in done.stdout  # no test seam in the shipped server: tests inject faults from outside
