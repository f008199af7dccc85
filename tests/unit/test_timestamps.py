"""One timestamp format in envctl's JSON: ISO 8601 UTC strings (docs/architecture.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from envctl.envs import history
from envctl.timestamps import epoch, iso


def test_history_entries_carry_iso_timestamps_old_journals_included(tmp_path: Path) -> None:
    entry = history.record("demo", "extend", "alice", "cli", root=tmp_path, by_s=3600)
    assert datetime.fromisoformat(entry["t"]).tzinfo == timezone.utc
    # a journal line from before: unix seconds, read back in the same format as the rest
    with open(tmp_path / "history" / "demo.jsonl", "a") as f:
        f.write(json.dumps({"t": 1_796_000_000.5, "action": "down", "actor": "bob", "via": "cli"}) + "\n")
    read = history.read("demo", root=tmp_path)
    assert read[0]["t"] == entry["t"]
    assert read[1]["t"] == "2026-11-30T00:53:20.500+00:00"


def test_iso_and_back() -> None:
    assert iso(None) is None and epoch(None) is None
    assert epoch(iso(1_796_000_000.25)) == 1_796_000_000.25
    assert epoch(1.5) == 1.5  # documents written before the change still read
