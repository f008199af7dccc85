"""The read helpers (tests, benchmarks, the admin API) written once for both backends.

Only the placeholder style differs ($1 for asyncpg, ? for sqlite3); each store supplies `_rows`
and `_param`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from envctl.charger.store.base import format_ts

_TRANSACTIONS = (
    "SELECT t.id, t.charger_id, t.connector_id, t.id_tag, t.meter_start, t.started_at, t.reservation_id, "
    "t.epoch, s.meter_stop, s.stopped_at, s.reason, s.epoch AS stop_epoch, s.charger_id AS stop_charger_id "
    "FROM transactions t LEFT JOIN transaction_stops s ON s.transaction_id = t.id"
)
_OWNER = (
    "SELECT o.charger_id, o.epoch, o.replica_id, o.connected_at, o.released_at, r.admin_url, "
    "r.stopped_at AS replica_stopped_at, c.last_seen_at FROM charger_owners o "
    "LEFT JOIN replicas r ON r.replica_id = o.replica_id LEFT JOIN chargers c ON c.id = o.charger_id "
)


def iso(value: Any) -> str | None:
    """Timestamps as ISO-8601 UTC text whichever backend read them (SQLite: text, Postgres: datetime)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    return str(value)


class ReadQueries:
    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _param(self, n: int) -> str:
        raise NotImplementedError

    def _in_list(self, n: int) -> str:
        """`IN` over a list passed as parameter n (see _list)."""
        raise NotImplementedError

    def _list(self, values: list[Any]) -> Any:
        raise NotImplementedError

    async def get_charger(self, charger_id: str) -> dict[str, Any] | None:
        rows = await self._rows(f"SELECT * FROM chargers WHERE id = {self._param(1)}", charger_id)
        if not rows:
            return None
        row = rows[0]
        row["boot_payload"] = json.loads(row["boot_payload"])
        return row

    async def count_chargers(self) -> int:
        return int((await self._rows("SELECT count(*) AS n FROM chargers"))[0]["n"])

    async def count_transactions(self) -> int:
        return int((await self._rows("SELECT count(*) AS n FROM transactions"))[0]["n"])

    async def list_transactions(self, charger_id: str | None = None) -> list[dict[str, Any]]:
        if charger_id is None:
            return await self._rows(_TRANSACTIONS + " ORDER BY t.id")
        return await self._rows(_TRANSACTIONS + f" WHERE t.charger_id = {self._param(1)} ORDER BY t.id", charger_id)

    async def find_duplicate_transactions(self) -> list[dict[str, Any]]:
        # Same session recorded twice: same charger, connector, tag and start time (meter aside).
        return await self._rows(
            "SELECT charger_id, connector_id, id_tag, started_at, count(*) AS copies FROM transactions "
            "GROUP BY charger_id, connector_id, id_tag, started_at HAVING count(*) > 1"
        )

    async def count_meter_values(self, charger_id: str | None = None) -> int:
        if charger_id is None:
            rows = await self._rows("SELECT count(*) AS n FROM meter_values")
        else:
            rows = await self._rows(f"SELECT count(*) AS n FROM meter_values WHERE charger_id = {self._param(1)}", charger_id)
        return int(rows[0]["n"])

    async def list_meter_values(self) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, charger_id, connector_id, transaction_id, ts, measurand, phase, location, context, unit, "
            "value, epoch FROM meter_values ORDER BY id"
        )

    async def owner(self, charger_id: str) -> dict[str, Any] | None:
        """Who holds the charger (or held it last): replica, epoch, its admin URL, when it was last seen."""
        rows = await self._rows(_OWNER + f"WHERE o.charger_id = {self._param(1)}", charger_id)
        if not rows:
            charger = await self.get_charger(charger_id)
            if charger is None:
                return None
            return {"charger_id": charger_id, "epoch": None, "replica_id": charger.get("replica_id"),
                    "connected_at": None, "released_at": None, "admin_url": None, "replica_stopped_at": None,
                    "last_seen_at": iso(charger.get("last_seen_at"))}
        row = rows[0]
        for key in ("connected_at", "released_at", "replica_stopped_at", "last_seen_at"):
            row[key] = iso(row[key])
        return row

    async def owners(self, charger_ids: list[str]) -> dict[str, int]:
        """Current epoch per charger (chargers never claimed are left out)."""
        if not charger_ids:
            return {}
        rows = await self._rows(
            f"SELECT charger_id, epoch FROM charger_owners WHERE charger_id {self._in_list(1)}", self._list(charger_ids)
        )
        return {r["charger_id"]: int(r["epoch"]) for r in rows}

    async def charger_snapshot(self, charger_id: str) -> dict[str, Any]:
        """What the fleet knows about a charger: boot, connector statuses, open transactions."""
        p = self._param(1)
        charger = await self.get_charger(charger_id)
        statuses = await self._rows(
            f"SELECT connector_id, status, error_code FROM connector_status WHERE charger_id = {p}", charger_id
        )
        open_tx = await self._rows(
            "SELECT t.id, t.connector_id, t.id_tag, t.meter_start, t.started_at FROM transactions t "
            f"LEFT JOIN transaction_stops s ON s.transaction_id = t.id WHERE t.charger_id = {p} "
            "AND s.transaction_id IS NULL ORDER BY t.id",
            charger_id,
        )
        return {
            "boot": charger["boot_payload"] if charger else None,
            "booted_at": iso(charger["last_boot_at"]) if charger else None,
            "last_seen_at": iso(charger["last_seen_at"]) if charger else None,
            "connectors": {int(r["connector_id"]): {"status": r["status"], "errorCode": r["error_code"]} for r in statuses},
            "open_transactions": {
                int(r["id"]): {"connectorId": int(r["connector_id"]), "idTag": r["id_tag"],
                               "meterStart": int(r["meter_start"]), "startedAt": iso(r["started_at"])}
                for r in open_tx
            },
        }

    async def connector_statuses(self, charger_id: str) -> dict[int, str]:
        rows = await self._rows(
            f"SELECT connector_id, status FROM connector_status WHERE charger_id = {self._param(1)}", charger_id
        )
        return {int(r["connector_id"]): str(r["status"]) for r in rows}
