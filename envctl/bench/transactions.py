"""Did transactions survive the release? The simulator's ledger against the server's database."""

from __future__ import annotations

import asyncio
from typing import Any

from envctl.charger.simulator import ledger
from envctl.charger.store import open_store


async def _server_transactions(database_url: str) -> list[dict[str, Any]]:
    store = await open_store(database_url, replica_id="bench-reader")
    try:
        rows = await store.list_transactions()
    finally:
        await store.close()
    return [
        {
            "charger": r["charger_id"],
            "connector": r["connector_id"],
            "id_tag": r["id_tag"],
            "meter_start": r["meter_start"],
            "timestamp": r["started_at"],
            "transaction_id": r["id"],
        }
        for r in rows
    ]


def count(ledger_dir: str, database_url: str) -> dict[str, Any]:
    """{"started", "acknowledged", "lost", "duplicated", ...} per DESIGN.md's report contract."""
    summary = ledger.summarise(ledger_dir)
    server = asyncio.run(_server_transactions(database_url))
    result = ledger.reconcile(summary, server)
    result["server_rows"] = len(server)
    result["dropped"] = summary.dropped
    result["resent"] = summary.resent
    return result
