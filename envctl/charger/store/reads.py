"""The read helpers (tests, benchmarks, the admin API) written once for both backends.

Only the placeholder style differs ($1 for asyncpg, ? for sqlite3); each store supplies `_rows`
and `_param`.
"""

from __future__ import annotations

import json
from typing import Any

_TRANSACTIONS = (
    "SELECT t.id, t.charger_id, t.connector_id, t.id_tag, t.meter_start, t.started_at, t.reservation_id, "
    "s.meter_stop, s.stopped_at, s.reason FROM transactions t "
    "LEFT JOIN transaction_stops s ON s.transaction_id = t.id"
)


class ReadQueries:
    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _param(self, n: int) -> str:
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

    async def connector_statuses(self, charger_id: str) -> dict[int, str]:
        rows = await self._rows(
            f"SELECT connector_id, status FROM connector_status WHERE charger_id = {self._param(1)}", charger_id
        )
        return {int(r["connector_id"]): str(r["status"]) for r in rows}
