"""The file store: atomic documents, a recomputed plan hash, a first-abort-wins flag, a lease that dies with its holder."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from envctl.errors import NotFound, Refused
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, compute_plan
from envctl.release.status import Abort
from envctl.release.store import FileReleaseStore

PLAN = compute_plan(
    env="demo", runtime="local", replicas=[ReplicaView("r1", "v1", True, True, True, False, 10)],
    options=PlanOptions(to_version="v2"), planner="alice", now=datetime(2026, 11, 28, tzinfo=timezone.utc), plan_id="demo-1",
)  # fmt: skip


def test_an_edited_plan_file_reads_back_with_a_new_hash(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)
    store.save_plan(PLAN)
    assert store.load_plan("demo-1").hash == PLAN.hash
    path = tmp_path / "demo-1" / "plan.json"
    doc = json.loads(path.read_text())
    doc["budget_per_s"] = 9999.0  # the stored "hash" field is left as it was: it is not trusted
    path.write_text(json.dumps(doc))
    assert store.load_plan("demo-1").hash != PLAN.hash


def test_unknown_plan_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no release plan"):
        FileReleaseStore(tmp_path).load_plan("nope")


def test_first_abort_is_kept(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)
    first = store.request_abort("demo-1", Abort(requested_at=1.0, reason="first", by="a"))
    second = store.request_abort("demo-1", Abort(requested_at=2.0, reason="second", by="b"))
    assert second == first and store.load_abort("demo-1") == first


def test_lease_is_exclusive_and_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time;from pathlib import Path;from envctl.release.store import FileReleaseStore as S\n"
         f"with S(Path({str(tmp_path)!r})).lease('demo-1','pid-holder'):\n print('held',flush=True);time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(Refused, match="pid-holder"):
        with store.lease("demo-1", "me"):
            pass
    holder.kill()
    holder.wait()
    with store.lease("demo-1", "me"):
        pass
