"""An independent client — the `ocpp` package's own v1.6 ChargePoint over `websockets` — drives the server."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result, datatypes, enums

from tests.integration.charger.conftest import charger, running_server

pytestmark = pytest.mark.timeout(30)


class Station(ChargePoint):  # type: ignore[misc]
    remote_starts: list[dict[str, Any]]

    @on(enums.Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        self.remote_starts.append({"id_tag": id_tag, **kwargs})
        return call_result.RemoteStartTransaction(status=enums.RemoteStartStopStatus.accepted)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_ocpp_package_charge_point_runs_a_session(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    config: dict[str, Any] = {}
    if backend == "postgres":
        config["database_url"] = request.getfixturevalue("postgres_url")
    async with running_server(tmp_path, **config) as cs, charger(cs.ocpp_url("OCPP-PKG-1")) as ws:
        cp = Station("OCPP-PKG-1", ws)
        cp.remote_starts = []
        runner = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(call.BootNotification(charge_point_model="Wallbox-1", charge_point_vendor="ACME"))
            assert boot.status == enums.RegistrationStatus.accepted and boot.interval == 300
            await cp.call(call.StatusNotification(connector_id=1, error_code=enums.ChargePointErrorCode.no_error,
                                                  status=enums.ChargePointStatus.available))
            auth = await cp.call(call.Authorize(id_tag="RFID-1"))
            assert auth.id_tag_info["status"] == enums.AuthorizationStatus.accepted
            started = now()
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag="RFID-1", meter_start=1000,
                                                        timestamp=started))
            tx = start.transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
                datatypes.MeterValue(timestamp=now(), sampled_value=[
                    datatypes.SampledValue(value="1500", measurand=enums.Measurand.energy_active_import_register,
                                           unit=enums.UnitOfMeasure.wh)])]))
            stop = await cp.call(call.StopTransaction(meter_stop=2000, timestamp=now(), transaction_id=tx,
                                                      id_tag="RFID-1", reason=enums.Reason.local))
            assert stop.id_tag_info["status"] == enums.AuthorizationStatus.accepted
            # and the other direction: the admin API asks the station to start, the station's answer comes back
            async with httpx.AsyncClient(base_url=cs.admin_url) as http:
                r = await http.post("/admin/chargers/OCPP-PKG-1/call",
                                    json={"action": "RemoteStartTransaction", "payload": {"idTag": "RFID-2"}})
            assert r.status_code == 200 and r.json() == {"status": "Accepted"}
            assert cp.remote_starts[0]["id_tag"] == "RFID-2"
        finally:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
        store = cs.store
        assert store is not None
        charger_row = await store.get_charger("OCPP-PKG-1")
        assert charger_row is not None and charger_row["vendor"] == "ACME" and charger_row["model"] == "Wallbox-1"
        [row] = await store.list_transactions("OCPP-PKG-1")
        assert row["id"] == tx and row["meter_start"] == 1000 and row["meter_stop"] == 2000 and row["reason"] == "Local"
        assert await store.count_meter_values("OCPP-PKG-1") == 1
