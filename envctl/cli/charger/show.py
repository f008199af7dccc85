"""`envctl charger show ENV CHARGER`: where a charger is connected and what the fleet knows of it."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors


def command(
    env: str = typer.Argument(..., help="environment name"),
    charger: str = typer.Argument(..., help="charge point id, e.g. CP000001"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Show a charger's replica, connection epoch, boot info, connector statuses and open transactions."""
    from envctl.envs import charger_admin

    with user_errors(output):
        emit(output, charger_admin.show(env, charger, runtime=runtime), _render)


def _render(state: dict[str, Any]) -> None:
    stdout.print(f"[bold]{state['charger_id']}[/] connected to replica {state.get('replica_id')} "
                 f"(epoch {state.get('epoch')}, {state.get('connections')} connection(s) there)", highlight=False)
    boot = state.get("boot") or {}
    if boot:
        stdout.print(f"  boot: {boot.get('chargePointVendor')} {boot.get('chargePointModel')} "
                     f"firmware {boot.get('firmwareVersion', '?')} at {state.get('booted_at')}", highlight=False)
    for connector, st in state.get("connectors", {}).items():
        stdout.print(f"  connector {connector}: {st.get('status')} ({st.get('errorCode')})", highlight=False)
    for tid, tx in state.get("open_transactions", {}).items():
        stdout.print(f"  open transaction {tid}: connector {tx.get('connectorId')}, idTag {tx.get('idTag')}, "
                     f"meterStart {tx.get('meterStart')} Wh", highlight=False)
