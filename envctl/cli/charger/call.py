"""`envctl charger call ENV CHARGER ACTION [--payload JSON]`: a central-initiated CALL, answered by the charger."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.errors import ConfigError


def command(
    env: str = typer.Argument(..., help="environment name"),
    charger: str = typer.Argument(..., help="charge point id, e.g. CP000001"),
    action: str = typer.Argument(..., help="OCPP 1.6 action the central system sends (Core, Firmware Management, "
                                 "Local Auth List, Reservation, Smart Charging, Remote Trigger), e.g. UnlockConnector"),
    payload: str = typer.Option("{}", "--payload", "-p", help='the CALL payload as JSON, e.g. \'{"requestedMessage": "Heartbeat"}\''),
    timeout: float = typer.Option(30.0, help="seconds to wait for the charger's answer"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Send ACTION to CHARGER through the environment's admin endpoint (any replica forwards it to the
    one the charger is connected to) and print the charger's answer."""
    from envctl.envs import charger_admin

    with user_errors(output):
        try:
            body = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--payload is not JSON: {exc}", charger_admin.payload_hint(action)) from None
        answer, replica = charger_admin.call(env, charger, action, body, runtime=runtime, timeout_s=timeout)

        def render(data: Any) -> None:
            stdout.print(f"{charger} answered {action} (via replica {replica or '?'}):", highlight=False)
            stdout.print_json(data=data)

        emit(output, answer, render)
