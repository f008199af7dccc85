"""As a user, through the CLI: `envctl up demo --chargers 100 --replicas 3`, then a TriggerMessage to
every charger with `envctl charger call`, all answered by the chargers themselves; `envctl
charger show` says where each one is. Before ownership, 7 of 10 such calls answered 404."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.envs.conftest import Cli

pytestmark = pytest.mark.timeout(600)


def test_hundred_calls_through_the_cli_all_answered_by_the_chargers(cli: Cli) -> None:
    status = cli.up("demo", "--chargers", "100", "--replicas", "3", timeout=180)
    assert status["chargers"]["connected"] == 100
    assert all(s["connections"] > 0 for s in status["servers"]), "chargers spread over the three replicas"
    admin = status["endpoints"]["admin"]

    def call(n: int) -> tuple[str, object]:
        cid = f"CP{n:06d}"
        done = cli.run("charger", "call", "demo", cid, "TriggerMessage", "--payload",
                       '{"requestedMessage": "Heartbeat"}', "--output", "json", check=False, timeout=120)
        return cid, json.loads(done.stdout) if done.returncode == 0 else done.stderr

    with ThreadPoolExecutor(4) as pool:
        answers = dict(pool.map(call, range(1, 101)))
    failed = {cid: a for cid, a in answers.items() if a != {"status": "Accepted"}}
    assert not failed, f"{len(failed)} of 100 calls not answered by the charger: {list(failed.items())[:3]}"

    # One endpoint served the whole fleet: the replica behind it forwarded the calls for the others' chargers.
    record = json.loads((Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / "demo" / "env.json").read_text())
    stats = httpx.get(admin + "/admin/stats", timeout=10).json()
    assert stats["forwarded_total"] == 100 - stats["connections"]
    where = {}
    for n in (1, 50, 100):
        shown = cli.json("charger", "show", "demo", f"CP{n:06d}")
        assert shown["connected"] is True and shown["boot"]["chargePointVendor"] == "envctl"
        where[n] = shown["replica_id"]
    assert set(where.values()) <= {r["id"] for r in record["replicas"]}
    # The endpoint protects its mutating calls with the environment's token; the CLI sent it.
    refused = httpx.post(admin + "/admin/chargers/CP000001/call", timeout=10,
                         json={"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
    assert refused.status_code == 401
