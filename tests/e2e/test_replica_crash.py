"""kill -9 of a charger-server replica while chargers are mid-transaction, on SQLite and Postgres.

What a user would notice: an acknowledged StartTransaction/StopTransaction missing from the
database (lost), a session stored twice after the charger resent it (duplicated), or messages
queued during the outage never delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from envctl.bench.transactions import count as reconcile_transactions
from envctl.charger.simulator import ledger
from envctl.charger.store import open_store
from tests.integration.envs.conftest import Cli


async def _stopped_transactions(database_url: str) -> set[int]:
    store = await open_store(database_url, replica_id="test-reader")
    try:
        return {r["id"] for r in await store.list_transactions() if r["stopped_at"] is not None}
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill9_replica_loses_and_duplicates_nothing(cli: Cli, backend: str, request: pytest.FixtureRequest) -> None:
    db_args = ["--database-url", request.getfixturevalue("postgres_url")] if backend == "postgres" else []
    cli.up(
        "crash", "--chargers", "60", "--replicas", "2", *db_args,
        # A session every ~2 s per charger, 3-6 s long, meter values every second: always in flight.
        "--session-rate", "1800", "--session-minutes", "0.05-0.1", "--meter-interval", "1",
    )  # fmt: skip
    env_dir = Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / "crash"
    record = json.loads((env_dir / "env.json").read_text())
    time.sleep(4)

    victim = max(record["replicas"], key=lambda r: r["pid"])
    # Freeze it first so the messages its chargers send in that second are in flight (sent, not
    # answered) when it dies: the crash then certainly catches transactions mid-way.
    os.kill(victim["pid"], signal.SIGSTOP)
    time.sleep(1.0)
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.time()
    time.sleep(8)  # chargers reconnect to the surviving replica and flush their queues

    status = cli.json("status", "crash", "--runtime", "local")
    assert status["chargers"]["connected"] == 60, "every charger is back on the surviving replica"
    sim = psutil.Process(record["simulator"]["pid"])
    sim.send_signal(signal.SIGTERM)  # the simulator flushes its ledger on stop
    sim.wait(timeout=30)

    tx = reconcile_transactions(str(env_dir / "ledger"), record["database_url"])
    assert tx["acknowledged"] > 50, tx
    assert tx["lost"] == 0 and tx["duplicated"] == 0 and tx["id_mismatch"] == 0, tx

    rows = ledger.read_rows(str(env_dir / "ledger"))
    stopped = asyncio.run(_stopped_transactions(record["database_url"]))
    acked_stops = {r["transaction_id"] for r in rows if r["kind"] == "stop" and r["state"] == "acknowledged"}
    assert acked_stops and acked_stops <= stopped, "every acknowledged StopTransaction is in the database"
    # Messages that waited out the outage (created or resent after the kill) were delivered.
    outage = [r for r in rows if r["created_at"] <= killed_at and r.get("attempts", 0) > 1]
    assert outage, "the kill caught transaction messages in flight"
    assert all(r["state"] == "acknowledged" for r in outage), [r for r in outage if r["state"] != "acknowledged"][:3]
