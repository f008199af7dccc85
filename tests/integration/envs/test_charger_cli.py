"""`envctl charger show|call` as a user runs them against a local environment: every action of the
central system reaches the simulated charger, and every mistake is a message and a non-zero exit."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.integration.envs.conftest import Cli

pytestmark = pytest.mark.timeout(300)


def test_charger_calls_and_every_error_path_through_the_cli(cli: Cli) -> None:
    cli.up("one", "--chargers", "1", "--replicas", "1", timeout=120)

    # actions 1.6 defines that `charger call` refused before
    for action, payload, answer in [
        ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
        ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ClearCache", {}, {"status": "Accepted"}),
        ("GetLocalListVersion", {}, {"listVersion": 0}),
    ]:
        done = cli.run("charger", "call", "one", "CP000001", action, "--payload", json.dumps(payload), "-o", "json")
        assert json.loads(done.stdout) == answer, action
    shown = cli.json("charger", "show", "one", "CP000001")
    assert shown["connectors"]["2"]["status"] == "Unavailable"

    def fails(*args: str) -> tuple[str, str]:
        text = cli.run("charger", *args, check=False)
        as_json = cli.run("charger", *args, "-o", "json", check=False)
        assert text.returncode != 0 and as_json.returncode != 0, (args, text.stdout, as_json.stdout)
        assert "error:" in text.stderr and json.loads(as_json.stderr)["error"], (args, text.stderr, as_json.stderr)
        assert as_json.stdout == ""
        return text.stderr, json.loads(as_json.stderr).get("hint") or ""

    err, _ = fails("show", "one", "")
    assert "not an OCPP charge point identity" in err
    err, _ = fails("show", "one", "CP%0A1")
    assert "not an OCPP charge point identity" in err
    err, _ = fails("show", "one", "NEVER")
    assert "never connected" in err
    err, hint = fails("call", "one", "CP000001", "UnlockConnector")
    assert '{"connectorId": 1}' in hint and "requestedMessage" not in hint
    err, hint = fails("call", "one", "CP000001", "ReserveNow", "--payload", '{"connectorId": 1}')
    assert "expiryDate" in hint and "reservationId" in hint
    err, hint = fails("call", "one", "CP000001", "SetChargingProfile", "--payload", "{not json")
    assert "not JSON" in err and "csChargingProfiles" in hint and "requestedMessage" not in hint
    err, hint = fails("call", "one", "CP000001", "MakeCoffee")
    assert "MakeCoffee" in err and "UnlockConnector" in hint
    err, _ = fails("call", "one", "CP000001", "ClearCache", "--timeout", "-1")
    assert "--timeout" in err
    err, _ = fails("call", "one", "", "ClearCache")
    assert "not an OCPP charge point identity" in err
    err, _ = fails("call", "one", "NEVER", "ClearCache")
    assert "never connected" in err


def test_the_state_directory_and_its_files_are_private(cli: Cli) -> None:
    root = Path(cli.env["ENVCTL_STATE_DIR"])
    root.mkdir(mode=0o755)  # an existing, too open state directory is narrowed too
    cli.up("one", "--chargers", "1", "--replicas", "1", timeout=120)
    shown = cli.json("charger", "show", "one", "CP000001")  # the database has this charger
    assert shown["connected"] is True
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    kinds = {p.suffix for p in files}
    assert {".db", ".json", ".log", ".jsonl"} <= kinds, kinds
    wide = {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert not wide, wide
