"""envctl webhook serve: receive GitHub deliveries at POST /webhooks/github."""

from __future__ import annotations

import gc
import logging
import sys

import typer

from envctl.cli.output import OutputFormat, OutputOption, stderr, user_errors


def command(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8080, min=0, max=65535, help="port to listen on"),
    workers: int = typer.Option(0, help="jobs run in parallel (different PRs); 0: ENVCTL_WEBHOOK_WORKERS or 4"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
    dashboard: bool = typer.Option(False, help="also serve the web dashboard at /dashboard (see `envctl dashboard`)"),
    output: OutputFormat = OutputOption,
) -> None:
    """Serve GitHub webhooks (secret from ENVCTL_WEBHOOK_SECRET); work is queued and survives restarts."""
    with user_errors(output):
        # imported here: every other command starts faster without PyGithub and uvicorn
        from envctl.github.server import PATH, WebhookService
        from envctl.github.settings import GitHubSettings
        from envctl.serving import listen, serve
        settings = GitHubSettings.from_env()
        if workers:
            settings.workers = workers
        # before the URL is printed and the job workers start: a taken port is an error, not a promise
        sock = listen(host, port)
        service = WebhookService.build(settings)
        app = service.app()
        if dashboard:
            from envctl.dashboard.app import mount_into
            from envctl.dashboard.settings import DashboardSettings
            mount_into(app, DashboardSettings.for_bind(host, port))
    # job threads (PyGithub, runtime polling) share the GIL with the event loop answering GitHub:
    # a shorter switch interval bounds how long a 202 waits behind them
    sys.setswitchinterval(0.0005)
    # what is alive now (imports, settings, PyGithub) lives as long as the process: keep it out of
    # every collection, and collect the young generation less often (a full pass over PyGithub's
    # and the router's objects stalled a burst of deliveries for tens of ms)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if output == OutputFormat.text:
        stderr.print(f"envctl webhook: http://{host}:{port}{PATH} (state in {settings.state_dir})", highlight=False)
    # httptools: uvicorn's C parser; h11, its pure-Python fallback, costs the event loop ~0.3 ms a request
    serve(app, sock, log_level=log_level, timeout_graceful_shutdown=60, http="httptools")
