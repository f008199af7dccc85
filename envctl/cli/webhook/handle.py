"""envctl webhook handle: process one GitHub event inside a GitHub Actions job, synchronously."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.errors import ConfigError


def command(
    event_name: str = typer.Option(..., "--event-name", help="the event, e.g. $GITHUB_EVENT_NAME"),
    event_path: Path = typer.Option(..., "--event-path", help="the payload file, e.g. $GITHUB_EVENT_PATH"),
    output: OutputFormat = OutputOption,
) -> None:
    """Handle one event the way `webhook serve` would, and wait for the work to finish."""
    with user_errors(output):
        # imported here: every other command starts faster without PyGithub and uvicorn
        from envctl.github.deliveries import Delivery, DeliveryStore
        from envctl.github.jobs import JobQueue
        from envctl.github.router import Router
        from envctl.github.settings import GitHubSettings
        try:
            body = event_path.read_bytes()
            payload = json.loads(body)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read the event payload {event_path}: {err}") from None
        settings = GitHubSettings.from_env()
        settings.require_credentials()
        router = Router(settings)
        triage = router.triage(event_name, payload)
        if triage.key is None or event_name == "ping":
            outcome = {"event": event_name, "state": "done", "result": router.dispatch(event_name, payload).to_dict()}
        else:
            run = os.environ.get("GITHUB_RUN_ID")
            delivery_id = f"actions-{run}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}" if run else str(uuid.uuid4())
            store = DeliveryStore.in_state_dir(settings.state_dir)
            router.pushes_after = store.pushes_after
            queue = JobQueue(store, router.run, max_attempts=settings.max_attempts, synchronous=True)
            delivery = Delivery(id=delivery_id, event=event_name, key=triage.key, body=body)
            if store.accept(delivery):
                queue.submit(delivery)
            done = store.get(delivery_id)
            assert done is not None
            outcome = {"event": event_name, "delivery": delivery_id, "state": done.state, "result": done.result}
        router.close()  # stops terraform worker processes, if any ran
    emit(output, outcome, lambda d: stdout.print(f"{d['event']}: {d['state']} — {d['result']}", highlight=False))
    if outcome["state"] == "failed":
        raise typer.Exit(1)
