"""The release job summary (pure markdown): plan, approver, timeline link, result; nothing injectable."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from markdown_it import MarkdownIt

from envctl.github.job_summary import SUMMARY_LIMIT, render_release_summary
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, PlanOrigin, compute_plan

ARTIFACT = "https://github.com/acme/chargers/actions/runs/7/artifacts/42"


def plan(**options: Any) -> dict[str, Any]:
    return compute_plan(
        env="prod", runtime="kubernetes", replicas=[ReplicaView("r1", "v1", True, True, True, False, 2000)],
        options=PlanOptions(to_version="v2", budget_per_s=100, **options), planner="dave",
        now=datetime(2027, 1, 15, tzinfo=timezone.utc), plan_id="release-7-1",
        origin=PlanOrigin(repository="acme/chargers", run_id=7, run_attempt=1, url="https://github.com/acme/chargers/actions/runs/7"),
    ).to_dict()  # fmt: skip


def approval(comment: str = "Ship it!") -> dict[str, Any]:
    return {
        "plan_id": "release-7-1", "plan_hash": "h", "approver": "carol", "approved_at": "2027-01-15T10:00:05Z",
        "source": "github-actions", "comment": comment, "valid": True,
        "run": {"repository": "acme/chargers", "id": 7, "attempt": 1, "url": "https://github.com/acme/chargers/actions/runs/7",
                "workflow": ".github/workflows/release.yml", "environment": "production", "title": "release v2 at 100/s",
                "dispatched_by": ["dave"]},
    }  # fmt: skip


def completed(approval_doc: dict[str, Any] | None) -> dict[str, Any]:
    t0 = 1_800_000_000.0
    status = {
        "plan_id": "release-7-1", "phase": "Completed", "step": None, "approval": approval_doc,
        "connections": {"fleet_at_start": 2000, "old": 0, "new": 2000, "moved_forward": 2000, "moved_back": 0},
        "steps": [{"name": "start_new", "started_at": t0, "finished_at": t0 + 3}, {"name": "drain_rest", "started_at": t0 + 3, "finished_at": t0 + 23}],
        "abort": None, "failure": None, "resumes": 1, "started_at": t0, "finished_at": t0 + 25,
    }  # fmt: skip
    seconds = [{"t": i, "forward": 95, "back": 0, "moved_forward": 95 * (i + 1), "moved_back": 0} for i in range(21)]
    return {"plan": plan(), "status": status, "timeline": {"seconds": seconds, "steps": [], "peak_per_s": 95, "aborts": [], "budget_per_s": 100}}


def tokens(md: str) -> list[Any]:
    parsed = MarkdownIt("commonmark").enable("table").parse(md)  # GitHub renders tables and raw HTML too
    return parsed + [child for t in parsed for child in (t.children or [])]


def test_plan_approver_timeline_and_result_are_all_there() -> None:
    doc = completed(approval())
    md = render_release_summary(doc, ARTIFACT)
    assert md.startswith("## ✅ Release `release-7-1`: Completed")
    assert "| approved by | @carol (required reviewer; [run 7](https://github.com/acme/chargers/actions/runs/7), environment `production`) at 2027-01-15 10:00:05 UTC: `Ship it!` |" in md
    assert "| planned by | @dave in [run 7](https://github.com/acme/chargers/actions/runs/7) |" in md
    assert f"| plan hash | `{doc['plan']['hash']}` |" in md
    assert "**Completed** in 25 s: 2000 of 2000 chargers moved to `v2`; peak 95 disconnects/s (budget 100/s); resumed 1×." in md
    assert f"[timeline.png]({ARTIFACT})" in md
    links = [t.attrGet("href") for t in tokens(md) if t.type == "link_open"]
    assert ARTIFACT in links
    assert sum(1 for t in tokens(md) if t.type == "table_open") == 2  # the facts and the steps


def test_a_reviewers_comment_cannot_inject_markdown_or_html() -> None:
    evil = "![pwned](https://evil.example/x.png) <img src=x onerror=alert(1)> | [click](javascript:alert(1)) `x`"
    md = render_release_summary(completed(approval(evil)), "javascript:alert(1)")
    assert not [t for t in tokens(md) if t.type == "image"]
    html = [t.content for t in tokens(md) if t.type.startswith("html")]
    assert html and all("<img" not in h and "onerror" not in h for h in html), html  # only envctl's own <details>
    assert "\\|" in md  # a pipe in the comment does not split the table row
    links = [t.attrGet("href") for t in tokens(md) if t.type == "link_open"]
    assert all(str(h).startswith("https://github.com/") for h in links), links
    assert "The timeline PNG was not uploaded" in md


def test_a_release_that_did_not_start_says_so() -> None:
    doc = {"plan": plan(), "status": {"plan_id": "release-7-1", "phase": "Pending", "step": None, "approval": None},
           "timeline": {"seconds": [], "steps": [], "peak_per_s": 0, "aborts": [], "budget_per_s": 100}}  # fmt: skip
    md = render_release_summary(doc, ARTIFACT)
    assert "| approved by | **not approved** |" in md and "The release did not start." in md
    assert "No timeline: the release did not start." in md and ARTIFACT not in md


def test_an_aborted_release_and_a_void_approval_are_visible() -> None:
    doc = completed(approval() | {"valid": False})
    doc["status"] |= {"phase": "Aborted", "abort": {"by": "engine", "reason": "CALLERROR ratio 0.4", "automatic": True},
                      "connections": doc["status"]["connections"] | {"moved_back": 100}}  # fmt: skip
    md = render_release_summary(doc, ARTIFACT)
    assert md.startswith("## ↩️ Release") and "void: the plan changed after it was approved" in md
    assert "Aborted automatically: `CALLERROR ratio 0.4`" in md and ", 100 moved back" in md


def test_the_summary_stays_under_githubs_limit() -> None:
    doc = completed(approval())
    doc["plan"] = plan(new_replica_args=["--fault"] * 200_000)
    md = render_release_summary(doc, ARTIFACT)
    assert len(md.encode()) < SUMMARY_LIMIT and "too long for a job summary" in md and "@carol" in md
