"""`envctl bench release` as a user runs it: the report carries the whole-history ledger counters
(DESIGN.md's transactions contract) and its pass/fail is decided by them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.envs.conftest import Cli

pytestmark = pytest.mark.timeout(300)


def test_graceful_rehearsal_reports_every_ledger_counter_and_passes_on_them(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    summary = cli.json("bench", "release", "--chargers", "80", "--strategy", "graceful", "--budget", "40",
                       "--hold", "1", "--session-rate", "600", "--report", str(report), timeout=240)
    doc = json.loads(report.read_text())
    tx = doc["transactions"]
    for key in ("started", "acknowledged", "lost", "stops_lost", "meter_values_lost", "energy_mismatch_wh",
                "phantom", "duplicated"):
        assert key in tx, key
    assert tx["acknowledged"] > 0, tx
    assert doc["passed"] is True and doc["failures"] == [], doc["failures"]
    assert summary["passed"] is True


def test_a_rehearsal_whose_release_rolled_back_does_not_pass(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    p = cli.run("bench", "release", "--chargers", "40", "--strategy", "graceful", "--budget", "40", "--hold", "3",
                "--server-args", f"--allowlist {tmp_path / 'no-such-allowlist.txt'}", "--report", str(report), "--output", "json", timeout=240,
                check=False)
    doc = json.loads(report.read_text())
    assert doc["strategy_detail"]["phase"] != "Completed"
    assert doc["passed"] is False, doc["failures"]
    assert any(f.startswith("the release ended Aborted: ") for f in doc["failures"]), doc["failures"]
    assert p.returncode != 0  # a failed rehearsal is a failing command, as CI needs it
