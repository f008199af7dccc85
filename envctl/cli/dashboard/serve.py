"""envctl dashboard [--host H --port P]: environments, releases live, locks, in a browser."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, user_errors


def command(
    host: str = typer.Option("127.0.0.1", help="address to listen on; beyond loopback a token is required"),
    port: int = typer.Option(8090, min=0, max=65535, help="port to listen on"),
    terraform_dir: Optional[Path] = typer.Option(None, help="working tree whose saved Terraform plans to show (default: here)"),
    log_level: str = typer.Option("warning", help="uvicorn log level"),
    output: OutputFormat = OutputOption,
) -> None:
    """Serve the web dashboard; actions need ENVCTL_DASHBOARD_TOKEN (refuses to start exposed without one)."""
    with user_errors(output):
        # imported here: every other command starts faster without the page machinery
        from envctl.dashboard.app import create_app
        from envctl.dashboard.settings import DashboardSettings

        settings = DashboardSettings.for_bind(host, port, terraform_dir)
        app = create_app(settings)
        from envctl.serving import listen, serve

        sock = listen(host, port)  # before the URL is printed: a taken port is an error, not a promise
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shown = f"[{host}]" if ":" in host else host
    doc = {"url": f"http://{shown}:{port}/", "actions": settings.actions_enabled, "exposed": settings.exposed}
    if output == OutputFormat.json:
        emit(output, doc)
    else:
        note = "actions enabled" if settings.actions_enabled else "read-only: set ENVCTL_DASHBOARD_TOKEN to enable actions"
        stderr.print(f"envctl dashboard: {doc['url']} ({note})", highlight=False)
    serve(app, sock, log_level=log_level, timeout_graceful_shutdown=5)
