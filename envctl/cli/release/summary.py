"""envctl release summary PLAN_ID: plan, approver, timeline and result, for people or a CI job summary."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, emit, stdout, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.release import service


class SummaryFormat(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def command(
    plan_id: Optional[str] = typer.Argument(None, help="default: the newest plan of the environment"),
    plot: Optional[Path] = typer.Option(None, help="also write the timeline as a PNG here"),
    timeline_url: Optional[str] = typer.Option(None, help="where the PNG can be seen (e.g. its artifact URL), linked from the markdown"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: SummaryFormat = typer.Option(SummaryFormat.text, "--output", "-o", help="text, json, or markdown (GitHub job summary)"),
) -> None:
    """Summarise a release: `-o markdown >> "$GITHUB_STEP_SUMMARY"` in a workflow."""
    with user_errors(OutputFormat.json if output == SummaryFormat.json else OutputFormat.text):
        if plot is not None:
            from envctl.output_paths import writable_image

            writable_image(plot)
        ctx = service.open_context(env, runtime)
        doc = service.report(ctx, plan_id)
        doc["plot"] = None
        if plot is not None and doc["timeline"]["seconds"]:  # nothing to draw before the release starts
            from envctl.release.timeline_plot import plot_timeline

            plot_timeline(doc, plot)
            doc["plot"] = str(plot)
        if output == SummaryFormat.markdown:
            from envctl.github.job_summary import render_release_summary

            typer.echo(render_release_summary(doc, timeline_url), nl=False)
            return
        emit(OutputFormat.json if output == SummaryFormat.json else OutputFormat.text, doc, _show)


def _show(doc: dict[str, Any]) -> None:
    from envctl.cli.release.render import show_status

    show_status(doc["status"])
    tl = doc["timeline"]
    stdout.print(f"peak {tl['peak_per_s']} disconnects/s (budget {tl['budget_per_s']:g}/s)"
                 + (f" · timeline {doc['plot']}" if doc.get("plot") else ""), highlight=False)
