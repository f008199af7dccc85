"""`envctl bench release` as a person reads it: a summary in words, and a verdict that tells the truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.envs.conftest import Cli

pytestmark = pytest.mark.timeout(300)


def test_a_recreate_that_drops_chargers_does_not_pass_and_says_so_in_words(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    done = cli.run("bench", "release", "--chargers", "40", "--strategy", "recreate", "--grace", "2",
                   "--report", str(report), timeout=240, check=False)  # fmt: skip
    doc = json.loads(report.read_text())
    assert doc["connect_failures"] > 0  # recreate stops every replica before the new ones listen
    assert doc["passed"] is False
    assert f"{doc['connect_failures']} connect failures" in doc["failures"]
    assert done.returncode == 1
    # text output is for people: a summary, not the JSON document
    assert not done.stdout.lstrip().startswith("{"), done.stdout
    assert "recreate release of 40 chargers" in done.stdout and "failed" in done.stdout
    assert f"connect failures     {doc['connect_failures']}" in done.stdout
    assert str(report) in done.stdout


def test_hold_takes_a_duration_like_release_plan(cli: Cli, tmp_path: Path) -> None:
    # an unknown strategy is refused before anything starts; what matters is that --hold 2m parsed
    done = cli.run("bench", "release", "--chargers", "1", "--strategy", "nope", "--hold", "2m",
                   "--report", str(tmp_path / "r.json"), check=False)  # fmt: skip
    assert done.returncode == 2 and "unknown strategy 'nope'" in done.stderr, done.stderr
    bad = cli.run("bench", "release", "--chargers", "1", "--strategy", "graceful", "--hold", "soon",
                  "--report", str(tmp_path / "r.json"), check=False)  # fmt: skip
    assert bad.returncode == 2 and "invalid duration 'soon'" in bad.stderr, bad.stderr
