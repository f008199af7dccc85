"""`envctl release ...`: plan, approve, start, resume, abort, status, summary (one module per verb)."""

from __future__ import annotations

import typer

from envctl.cli.release import abort, approve, plan, resume, start, status, summary

app = typer.Typer(no_args_is_help=True, help="graceful charger-server releases: plan, approve, start, resume, abort, status, summary")

app.command("plan")(plan.command)
app.command("approve")(approve.command)
app.command("start")(start.command)
app.command("resume")(resume.command)
app.command("abort")(abort.command)
app.command("status")(status.command)
app.command("summary")(summary.command)
