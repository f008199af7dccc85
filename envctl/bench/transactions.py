"""Did transactions survive the release? The simulator's ledger against the server's database.

The whole history is compared (envctl/charger/simulator/reconcile.py): starts, stops with their
meterStop, every MeterValues sample, energy per transaction, and rows no charger wrote.
`passed(tx)` is the release benchmark's verdict on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from envctl.charger.simulator import ledger
from envctl.charger.simulator.reconcile import reconcile
from envctl.charger.store import open_store

# Every one of these must be 0 for a release to have kept every transaction intact.
MUST_BE_ZERO = ("lost", "id_mismatch", "duplicated", "phantom", "stops_lost", "stops_phantom",
                "meter_values_lost", "meter_values_phantom", "energy_mismatch_wh")


async def server_history(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(transactions with their stops, meter samples), in the shapes reconcile() takes."""
    store = await open_store(database_url)
    try:
        rows = await store.list_transactions()
        samples = await store.list_meter_values()
    finally:
        await store.close()
    transactions = [
        {
            "charger": r["charger_id"],
            "connector": r["connector_id"],
            "id_tag": r["id_tag"],
            "meter_start": r["meter_start"],
            "timestamp": r["started_at"],
            "transaction_id": r["id"],
            "meter_stop": r["meter_stop"],
            "stopped_at": r["stopped_at"],
        }
        for r in rows
    ]
    meter = [
        {"charger": m["charger_id"], "connector": m["connector_id"], "transaction_id": m["transaction_id"],
         "ts": m["ts"], "measurand": m["measurand"], "phase": m["phase"], "location": m["location"],
         "context": m["context"], "value": m["value"]}
        for m in samples
    ]
    return transactions, meter


def count(ledger_dir: str, database_url: str) -> dict[str, Any]:
    """{"started", "acknowledged", "lost", "stops_lost", "meter_values_lost", "energy_mismatch_wh",
    "phantom", "duplicated", ...} per DESIGN.md's report contract."""
    summary = ledger.summarise(ledger_dir)
    transactions, samples = asyncio.run(server_history(database_url))
    result = reconcile(summary, transactions, samples)
    result["server_rows"] = len(transactions)
    result["server_meter_values"] = len(samples)
    result["dropped"] = summary.dropped
    result["resent"] = summary.resent
    return result


def failures(tx: dict[str, Any]) -> list[str]:
    """What the ledger says went wrong (empty: every transaction kept intact)."""
    return [f"{k} = {tx[k]}" for k in MUST_BE_ZERO if tx.get(k)]
