"""envctl release plan --to VERSION: compute a release plan from the live fleet and save it."""

from __future__ import annotations

import shlex
from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption, seconds
from envctl.cli.release.render import show_plan
from envctl.release import service
from envctl.release.identity import acting
from envctl.release.plan import HealthThresholds, PlanOptions


def command(
    to: str = typer.Option(..., "--to", help="version to release"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    budget: float = typer.Option(100.0, help="fleet-wide reconnect budget, chargers per second"),
    canary_share: float = typer.Option(0.05, help="share of the old connections moved in the canary"),
    hold: str = typer.Option("30s", help="how long to watch the canary before judging it"),
    replicas: Optional[int] = typer.Option(None, help="new replicas to start (default: as many as now)"),
    ready_timeout: str = typer.Option("90s", help="how long new replicas may take to be ready"),
    verify_timeout: str = typer.Option("60s", help="how long every charger may take to be back"),
    verify_tolerance: float = typer.Option(0.0, help="share of chargers allowed to be missing at verify"),
    min_connect_success: float = typer.Option(0.98, help="abort when fewer connects succeed"),
    max_callerror_ratio: float = typer.Option(0.02, help="abort above this CALLERRORs per message"),
    max_p99_ms: float = typer.Option(1000.0, help="abort above this handler p99 latency"),
    rate_margin: float = typer.Option(
        0.25, help="abort when fleet-wide reconnects/s exceed the budget by more than this share ..."
    ),
    rate_over_for: int = typer.Option(3, help="... for more than this many consecutive seconds (0: any second)"),
    server_args: str = typer.Option("", help="extra args for new replicas, e.g. '--call-timeout 10'"),
    image: Optional[str] = typer.Option(None, help="container image of the new version (kubernetes; default: the running one's)"),
    plan_id: Optional[str] = typer.Option(None, "--id", help="plan id (default: generated)"),
    output: OutputFormat = OutputOption,
) -> None:
    """Plan a graceful release: replicas, connections, budget, canary, hold, thresholds, duration."""
    with user_errors(output):
        thresholds = HealthThresholds(
            min_connect_success_ratio=min_connect_success, max_callerror_ratio=max_callerror_ratio,
            max_handler_p99_ms=max_p99_ms, max_rate_over_budget_ratio=rate_margin, max_rate_over_budget_s=rate_over_for,
        )  # fmt: skip
        options = PlanOptions(
            to_version=to, budget_per_s=budget, canary_share=canary_share, hold_s=seconds(hold),
            new_replicas=replicas, ready_timeout_s=seconds(ready_timeout), verify_timeout_s=seconds(verify_timeout),
            verify_tolerance=verify_tolerance, new_replica_args=shlex.split(server_args), thresholds=thresholds,
            image=image,
        )  # fmt: skip
        ctx = service.open_context(env, runtime)
        who = acting()  # in GitHub Actions: the run's dispatcher, and the run becomes the plan's origin
        plan = service.make_plan(ctx, options, who.login, plan_id, who.ci.origin() if who.ci else None)
        emit(output, plan.to_dict(), show_plan)
