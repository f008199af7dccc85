"""How releases look to people: the plan table, the status panel and the live progress bar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from envctl.cli.output import stderr, stdout
from envctl.release.engine import Observer
from envctl.release.hints import release_cmd
from envctl.release.plan import ReleasePlan
from envctl.release.status import ReleaseStatus, eta_s, release_phase


def show_plan(doc: dict[str, Any]) -> None:
    table = Table(title=f"release plan {doc['id']}  ({doc['env']}: {', '.join(doc['from_versions'])} → {doc['to_version']})")
    table.add_column("replica")
    table.add_column("version")
    table.add_column("connections", justify="right")
    for r in doc["old_replicas"]:
        table.add_row(r["id"], r["version"], str(r["connections"]))
    table.add_row(f"+{doc['new_replicas']} new", doc["to_version"], "0")
    stdout.print(table)
    t = doc["thresholds"]
    stdout.print(
        f"budget [bold]{doc['budget_per_s']:g}[/] reconnects/s fleet-wide · canary {doc['canary_share']:.0%} "
        f"({doc['canary_connections']} chargers) · hold {doc['hold_s']:g}s · "
        f"estimated [bold]{doc['estimated_duration_s']:.0f}s[/]\n"
        f"health: connect success ≥ {t['min_connect_success_ratio']:.0%}, CALLERROR ≤ {t['max_callerror_ratio']:.0%}, "
        f"handler p99 ≤ {t['max_handler_p99_ms']:g} ms, ready ≥ {t['min_ready_ratio']:.0%}\n"
        f"hash {doc['hash']}\nnext: {release_cmd('approve', doc['id'], doc['env'], doc['runtime']).strip('`')}",
        highlight=False,
    )


def show_status(doc: dict[str, Any]) -> None:
    colour = {"Completed": "green", "Aborted": "yellow", "Failed": "red", "Aborting": "yellow"}.get(doc["phase"], "cyan")
    stdout.print(f"release [bold]{doc['plan_id']}[/] ({doc['env']} → {doc['to_version']}): [{colour}]{doc['phase']}[/]", highlight=False)
    approval = doc.get("approval")
    if approval:
        valid = "" if approval["valid"] else " [red](void: plan changed)[/]"
        stdout.print(f"approved by {approval['approver']} at {approval['approved_at']}{valid}", highlight=False)
    else:
        stdout.print("not approved", highlight=False)
    if doc.get("step") is None and "connections" not in doc:
        return
    c = doc["connections"]
    stdout.print(
        f"step {doc['step'] or '-'} · old {c['old']} · new {c['new']} · moved {c['moved_forward']} (back {c['moved_back']}) "
        f"of {c['fleet_at_start']} · rate {doc['rate_per_s']:g}/s (budget {doc['budget_per_s']:g}) · ETA {doc['eta_s']}s",
        highlight=False,
    )
    for cond in doc["pause_conditions"]:
        stdout.print(f"paused: {cond['reason']} since {time.strftime('%H:%M:%S', time.localtime(cond['start_time']))}")
    if doc["abort"]:
        stdout.print(f"[yellow]abort[/]: {doc['abort']['reason']} (by {doc['abort']['by']})", highlight=False)
    if doc["failure"]:
        stdout.print(f"[red]failure[/]: {doc['failure']}", highlight=False)


@contextmanager
def live_progress(enabled: bool) -> Iterator[Observer | None]:
    """A progress bar of chargers moved, on stderr, while the engine runs (None when disabled).

    The bar appears on the first report from the engine, so a refusal prints no empty bar.
    """
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    bar = Progress(*columns, console=stderr, transient=False)
    task = None

    def observe(plan: ReleasePlan, status: ReleaseStatus) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("starting", total=1)
        phase = release_phase(plan, status)
        moved = status.moved_back if status.abort else status.moved_forward
        eta = eta_s(plan, status, time.time())
        bar.update(
            task,
            description=f"{phase} {status.current_step() or ''} · {status.bucket.effective_rate:.0f}/s"
            + (f" · ETA {eta:.0f}s" if eta is not None else ""),
            completed=moved,
            total=max(1, status.fleet_connections_at_start),
        )

    try:
        yield observe
    finally:
        if task is not None:
            bar.stop()
