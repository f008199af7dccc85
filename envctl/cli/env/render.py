"""How environments look to people (rich); JSON output uses EnvStatus.to_dict() directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from envctl.cli.output import stdout


def _expiry(iso: str | None) -> str:
    if not iso:
        return "-"
    left = datetime.fromisoformat(iso) - datetime.now(datetime.fromisoformat(iso).tzinfo)
    hours, rest = divmod(int(left.total_seconds()), 3600)
    return f"in {hours}h{rest // 60:02d}m" if left.total_seconds() > 0 else "expired"


def show_status(data: dict[str, Any]) -> None:
    colour = {"Ready": "green", "Degraded": "yellow", "Failed": "red"}.get(data["phase"], "cyan")
    stdout.print(f"[bold]{data['name']}[/] ({data['runtime']}): [{colour}]{data['phase']}[/]")
    stdout.print(f"  chargers  {data['chargers']['connected']}/{data['chargers']['target']} connected")
    stdout.print(f"  ocpp      {data['endpoints'].get('ocpp', '')}")
    stdout.print(f"  admin     {data['endpoints'].get('admin', '')}")
    stdout.print(f"  expires   {_expiry(data.get('expires_at'))}")
    table = Table("server", "version", "ready", "connections", box=None, pad_edge=False)
    for s in data["servers"]:
        table.add_row(s["id"], s["version"], "yes" if s["ready"] else "no", str(s["connections"]))
    stdout.print(table)
    if data.get("message"):
        stdout.print(f"  [yellow]{data['message']}[/]")


def show_list(items: list[dict[str, Any]]) -> None:
    if not items:
        stdout.print("no environments; create one with `envctl up`")
        return
    table = Table("name", "runtime", "pr", "owner", "phase", "chargers", "expires")
    for d in items:
        table.add_row(
            d["name"], d["runtime"], str(d.get("pr") or "-"), d.get("owner") or "-", d["phase"],
            f"{d['chargers']['connected']}/{d['chargers']['target']}", _expiry(d.get("expires_at")),
        )  # fmt: skip
    stdout.print(table)
