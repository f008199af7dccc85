"""The live view of a running fleet (rich), drawn from the same status body as the status file."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def render(status: dict[str, Any]) -> Table:
    lat, tx, off = status["call_latency_ms"], status["tx"], status["offline"]
    table = Table(title="envctl sim", show_header=False, min_width=48)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("connected", f"{status['connected']:,} / {status['target']:,}  (booted {status['booted']:,})"),
        ("connects/s", f"{status.get('connects_per_s') or 0:,.1f}"),
        ("reconnects", f"{status['reconnects_total']:,}"),
        ("connect failures", f"{status['connect_failures_total']:,}"),
        ("disconnects", f"{status['disconnects_total']:,}"),
        ("CALL latency p50 / p99", f"{_ms(lat['p50'])} / {_ms(lat['p99'])}"),
        ("calls / CALLERRORs", f"{status['calls_total']:,} / {status['callerrors_total']:,}"),
        ("tx queued / sent / acked", f"{tx['queued']:,} / {tx['sent']:,} / {tx['acknowledged']:,}"),
        ("offline now / max s", f"{off['currently_offline']:,} / {off['max_s']}"),
        ("RSS per charger", f"{(status.get('rss_per_charger_bytes') or 0) / 1024:,.1f} KiB"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    if status.get("stalled_workers"):
        stalled = f"{status['stalled_workers']:,} ({status.get('stalled_chargers') or 0:,} chargers, numbers stale)"
        table.add_row("[bold red]stalled workers", f"[bold red]{stalled}")
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"
