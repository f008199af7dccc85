"""The release job's summary on the Actions run page, as a pure function of the release report.

Plan, approver, timeline and result, in GitHub-flavoured markdown for $GITHUB_STEP_SUMMARY.
A job summary cannot show a file from the runner, so the timeline PNG is uploaded as an artifact
by release.yml and linked here (see docs/release.md). Every value envctl did not write (logins,
comments, versions, URLs) is put in inline code or checked before it becomes a link, so a
reviewer's comment cannot inject markdown or HTML into the page.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from envctl.github.markdown import fenced, inline, user
from envctl.timestamps import epoch

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses a step summary above 1 MiB
_ICON = {"Completed": "✅", "Aborted": "↩️", "Aborting": "↩️", "Failed": "❌", "Pending": "⏸️"}


def _link(text: str, url: str | None) -> str:
    if url and re.fullmatch(r"https?://[^\s()<>\[\]`]+", url):
        return f"[{text}]({url})"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _when(value: Any) -> str:
    try:
        when = (datetime.fromtimestamp(value, timezone.utc) if isinstance(value, (int, float))
                else datetime.fromisoformat(str(value).replace("Z", "+00:00")))  # fmt: skip
    except ValueError:
        return inline(str(value))
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _approval_line(approval: dict[str, Any] | None) -> str:
    if not approval:
        return "**not approved**"
    run = approval.get("run")
    if approval.get("source") == "github-actions" and run:
        where = _link(f"run {run['id']}", run.get("url")) + f", environment {inline(run['environment'])}"
        line = f"{user(approval['approver'])} (required reviewer; {where}) at {_when(approval['approved_at'])}"
    else:
        line = f"{inline(approval['approver'])} (OS user, given locally) at {_when(approval['approved_at'])}"
    if approval.get("comment"):
        line += f": {inline(approval['comment'][:300])}"
    if not approval.get("valid", True):
        line += " — **void: the plan changed after it was approved**"
    return line


def _result(status: dict[str, Any], timeline: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    phase = status.get("phase", "Pending")
    if status.get("step", None) is None and "connections" not in status:
        return ["The release did not start."]
    c = status["connections"]
    took = ""
    started, finished = epoch(status.get("started_at")), epoch(status.get("finished_at"))
    if finished and started:
        took = f" in {finished - started:.0f} s"
    lines = [
        f"**{phase}**{took}: {c['moved_forward']} of {c['fleet_at_start']} chargers moved to {inline(plan['to_version'])}"
        + (f", {c['moved_back']} moved back" if c["moved_back"] else "")
        + f"; peak {timeline['peak_per_s']} disconnects/s (budget {plan['budget_per_s']:g}/s)"
        + (f"; resumed {status['resumes']}×" if status.get("resumes") else "") + ".",
    ]
    if status.get("abort"):
        a = status["abort"]
        lines.append(f"Aborted{' automatically' if a.get('automatic') else ' by ' + inline(a['by'])}: {inline(a['reason'])}")
    if status.get("failure"):
        lines.append(f"**Failure**: {inline(status['failure'])}")
    steps = status.get("steps") or []
    if steps:
        lines += ["", "| step | started | took |", "|---|---:|---:|"]
        t0 = started or 0.0
        for s in steps:
            s_start, s_end = epoch(s["started_at"]) or 0.0, epoch(s.get("finished_at"))
            took_s = f"{s_end - s_start:.1f} s" if s_end else "…"
            lines.append(f"| {s['name']} | +{s_start - t0:.1f} s | {took_s} |")
    return lines


def render_release_summary(doc: dict[str, Any], timeline_url: str | None = None) -> str:
    """`doc`: service.report(): {"plan", "status", "timeline"}."""
    plan, status, tl = doc["plan"], doc["status"], doc["timeline"]
    phase = status.get("phase", "Pending")
    origin = plan.get("origin") or {}
    planned = inline(plan["planner"]) if not origin else f"{user(plan['planner'])} in {_link('run ' + str(origin['run_id']), origin.get('url'))}"
    rows = [
        ("environment", f"{inline(plan['env'])} ({plan['runtime']})"),
        ("versions", f"{', '.join(inline(v) for v in plan['from_versions'])} → {inline(plan['to_version'])}"),
        ("planned by", planned),
        ("approved by", _approval_line(status.get("approval"))),
        ("plan hash", inline(plan["hash"])),
        ("budget", f"{plan['budget_per_s']:g} reconnects/s fleet-wide; canary {plan['canary_share']:.0%} "
                   f"({plan['canary_connections']} chargers), hold {plan['hold_s']:g} s"),
        ("fleet", f"{plan['connections']} connections on {len(plan['old_replicas'])} replicas → {plan['new_replicas']} new"),
        ("estimated", f"{plan['estimated_duration_s']:.0f} s"),
    ]
    out = [f"## {_ICON.get(phase, '🔄')} Release {inline(plan['id'])}: {phase}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_cell(v)} |" for k, v in rows]
    out += ["", "### Result", "", *_result(status, tl, plan), "", "### Timeline", ""]
    if not tl["seconds"]:
        out.append("No timeline: the release did not start.")
    elif timeline_url and _link("x", timeline_url) != "x":
        out.append(f"{_link('timeline.png', timeline_url)}: chargers moved and disconnects per second against the "
                   "budget (a workflow artifact: a job summary cannot show files from the runner).")
    else:
        out.append("The timeline PNG was not uploaded (no artifact URL given).")
    plan_json = json.dumps(plan, indent=2, sort_keys=True)
    out += ["", "<details><summary>The approved plan (JSON)</summary>", "", fenced(plan_json), "", "</details>", ""]
    body = "\n".join(out)
    if len(body.encode()) > SUMMARY_LIMIT:  # only the plan's JSON can be long; keep everything else
        body = body.replace(fenced(plan_json), "(the plan is too long for a job summary; see `envctl release status`)")
    return body
