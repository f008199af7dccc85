"""`envctl sim`: run a fleet of simulated OCPP 1.6J chargers against a charger-server."""

from __future__ import annotations

from typing import Any

import typer

from envctl.charger.simulator.settings import (
    SimConfig,
    default_workers,
    parse_addresses,
    parse_id_pattern,
    parse_session_minutes,
    validated,
)
from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, stdout, user_errors


def command(
    url: str = typer.Option("ws://127.0.0.1:9000/ocpp", help="OCPP endpoint; each charger connects to URL/{id}"),
    chargers: int = typer.Option(1, "--chargers", "-n", help="number of simulated chargers"),
    id_pattern: str = typer.Option("CP{n:06d}", help="charger id pattern (Python format, n = number)"),
    id_start: int = typer.Option(1, help="n of the first charger"),
    connectors: int = typer.Option(2, help="connectors per charger"),
    basic_auth_password: str = typer.Option(
        None, envvar="ENVCTL_SIM_PASSWORD", help="HTTP Basic password (user = charger id)"
    ),
    heartbeat_interval: float = typer.Option(None, help="override the server's heartbeat interval (s)"),
    session_rate: float = typer.Option(0.0, help="charging sessions per charger per hour"),
    session_minutes: str = typer.Option("30", help='session length: "30" (15-45 min) or "5-10"'),
    meter_interval: float = typer.Option(60.0, help="MeterValues interval during a session (s)"),
    reconnect: str = typer.Option("immediate", help="immediate (like real firmware) or backoff"),
    backoff_min: float = typer.Option(1.0, help="backoff start (s); also the retry delay of a failed connect"),
    backoff_max: float = typer.Option(60.0, help="backoff ceiling (s)"),
    connect_rate: float = typer.Option(0.0, help="initial connects/s across the fleet; 0 = as fast as possible"),
    source_addresses: str = typer.Option(None, help="local addresses, round-robin: 127.0.0.2-127.0.0.60"),
    tx_attempts: int = typer.Option(3, help="TransactionMessageAttempts"),
    tx_retry_interval: float = typer.Option(10.0, help="TransactionMessageRetryInterval (s)"),
    call_timeout: float = typer.Option(30.0, help="seconds to wait for a CALL's answer"),
    workers: int = typer.Option(None, help="worker processes (default: one per 15,000 chargers)"),
    duration: float = typer.Option(0.0, help="seconds to run; 0 = until SIGTERM/SIGINT"),
    status_file: str = typer.Option(None, help="JSON status, atomically rewritten every second"),
    report: str = typer.Option(None, help="write the final JSON report here"),
    ledger_dir: str = typer.Option(None, help="write the transaction ledger (JSONL per worker) here"),
    live: bool = typer.Option(True, "--live/--no-live", help="live view on stderr"),
    seed: int = typer.Option(None, help="random seed for repeatable runs"),
    output: OutputFormat = OutputOption,
) -> None:
    """Simulate N OCPP 1.6J chargers: boot, heartbeats, sessions, offline queueing, reconnects."""
    from envctl.charger.simulator.fleet import SimulatedFleet, write_json_atomic

    with user_errors(output):
        cfg = validated(
            SimConfig(
                url=url,
                chargers=chargers,
                id_pattern=parse_id_pattern(id_pattern),
                id_start=id_start,
                connectors=connectors,
                basic_auth_password=basic_auth_password,
                heartbeat_interval=heartbeat_interval,
                session_rate=session_rate,
                session_minutes=parse_session_minutes(session_minutes),
                meter_interval=meter_interval,
                reconnect=reconnect,
                backoff_min=backoff_min,
                backoff_max=backoff_max,
                connect_rate=connect_rate,
                source_addresses=parse_addresses(source_addresses),
                tx_attempts=tx_attempts,
                tx_retry_interval=tx_retry_interval,
                call_timeout=call_timeout,
                ledger_dir=ledger_dir,
                seed=seed,
            )
        )
        fleet = SimulatedFleet(cfg, workers or default_workers(chargers), duration, status_file)
        if live:
            result = _run_live(fleet)
        else:
            result = fleet.run()
        if report:
            write_json_atomic(report, result)
        emit(output, result, _render)
    if result["workers_failed"]:
        stderr.print(f"[bold red]error:[/] {result['workers_failed']} simulator worker(s) died; numbers are partial")
        raise typer.Exit(1)


def _run_live(fleet: Any) -> dict[str, Any]:
    from rich.live import Live

    from envctl.charger.simulator.live import render

    with Live(render(fleet.status()), console=stderr, refresh_per_second=2, transient=False) as view:
        fleet.on_tick = lambda status: view.update(render(status))
        return fleet.run()  # type: ignore[no-any-return]


def _render(result: dict[str, Any]) -> None:
    from envctl.charger.simulator.live import render

    stdout.print(render(result))
    tx, off = result["tx"], result["offline"]
    stdout.print(
        f"{result['chargers_disconnected_at_end']} disconnected at end; max offline {off['max_s']} s, "
        f"p99 {off['p99_s']} s; tx acked {tx['acknowledged']}, queued {tx['queued']}, dropped {tx['dropped']}",
        highlight=False,
    )
