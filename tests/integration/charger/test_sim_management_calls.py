"""Every central-initiated action of OCPP 1.6's Core, Firmware Management, Local Auth List
Management, Reservation, Smart Charging and Remote Trigger profiles, sent through the real
charger-server's admin API to a real simulated charger: schema-valid answers (the server checks
them against the official schemas; an invalid one is a 502), and the behaviour that matters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from envctl.charger.protocol.schemas import CENTRAL_INITIATED, example_request
from envctl.charger.server.app import CentralSystem
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from tests.integration.charger.conftest import running_server

pytestmark = pytest.mark.timeout(60)
CP = "CP000001"


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


class Admin:
    def __init__(self, cs: CentralSystem) -> None:
        self.cs = cs
        self.http = httpx.AsyncClient(base_url=cs.admin_url, timeout=15)  # type: ignore[attr-defined]

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        resp = await self.http.post(f"/admin/chargers/{CP}/call", json={"action": action, "payload": payload})
        assert resp.status_code == 200, (action, payload, resp.status_code, resp.text)
        return resp.json()  # type: ignore[no-any-return]

    def status(self, connector: int) -> str | None:
        return self.cs.registry.state(CP).connectors.get(connector, {}).get("status")

    def messages(self, action: str) -> int:
        return self.cs.metrics.messages.get(action, 0)


async def test_every_central_action_is_answered_and_the_charger_behaves(tmp_path: Path) -> None:
    async with running_server(tmp_path, heartbeat_interval=60) as cs:
        cfg = SimConfig(url=f"ws://127.0.0.1:{cs.ocpp_port}/ocpp", chargers=1, connectors=2, seed=3)
        worker = Worker(cfg, Shard(0, 0, 1))
        worker.start()
        admin = Admin(cs)
        try:
            await until(lambda: worker.stats.booted == 1 and admin.status(2) == "Available")
            # every action answers a minimal valid request (Reset last: it reboots the charger)
            for action in sorted(CENTRAL_INITIATED - {"Reset"}):
                await admin.call(action, example_request(action))
            await admin.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
            await admin.call("ClearChargingProfile", {})

            # Core: availability, unlock, cache
            assert await admin.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {"status": "Accepted"}
            await until(lambda: admin.status(1) == "Unavailable")
            assert (await admin.call("RemoteStartTransaction", {"idTag": "T1", "connectorId": 1}))["status"] == "Rejected"
            assert await admin.call("ChangeAvailability", {"connectorId": 9, "type": "Inoperative"}) == {"status": "Rejected"}
            assert await admin.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"}) == {"status": "Accepted"}
            await until(lambda: admin.status(1) == "Available")
            assert await admin.call("RemoteStartTransaction", {"idTag": "T1", "connectorId": 2}) == {"status": "Accepted"}
            await until(lambda: admin.status(2) == "Charging" and cs.registry.state(CP).open_transactions)
            assert await admin.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {"status": "Scheduled"}
            assert await admin.call("UnlockConnector", {"connectorId": 2}) == {"status": "Unlocked"}  # ends the session
            await until(lambda: not cs.registry.state(CP).open_transactions and admin.status(2) == "Unavailable")
            tx = await cs.store_or_fail().list_transactions(CP)
            assert [t["reason"] for t in tx if t["stopped_at"]][-1] == "UnlockCommand", tx
            assert await admin.call("UnlockConnector", {"connectorId": 7}) == {"status": "NotSupported"}
            assert await admin.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"}) == {"status": "Accepted"}
            assert await admin.call("ClearCache", {}) == {"status": "Accepted"}

            # Local Auth List Management
            assert await admin.call("GetLocalListVersion", {}) == {"listVersion": 1}  # the example's Differential
            full = {"listVersion": 5, "updateType": "Full",
                    "localAuthorizationList": [{"idTag": "RFID1", "idTagInfo": {"status": "Accepted"}}]}
            assert await admin.call("SendLocalList", full) == {"status": "Accepted"}
            assert await admin.call("GetLocalListVersion", {}) == {"listVersion": 5}
            stale = {"listVersion": 4, "updateType": "Differential", "localAuthorizationList": [{"idTag": "RFID1"}]}
            assert await admin.call("SendLocalList", stale) == {"status": "VersionMismatch"}

            # Reservation
            reserve = {"connectorId": 1, "expiryDate": later(600), "idTag": "RFID1", "reservationId": 11}
            assert await admin.call("ReserveNow", reserve) == {"status": "Accepted"}
            await until(lambda: admin.status(1) == "Reserved")
            assert await admin.call("ReserveNow", reserve | {"reservationId": 12}) == {"status": "Occupied"}
            assert (await admin.call("RemoteStartTransaction", {"idTag": "OTHER", "connectorId": 1}))["status"] == "Rejected"
            assert await admin.call("CancelReservation", {"reservationId": 11}) == {"status": "Accepted"}
            await until(lambda: admin.status(1) == "Available")
            assert await admin.call("CancelReservation", {"reservationId": 11}) == {"status": "Rejected"}

            # Smart Charging
            profile = {"chargingProfileId": 7, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Absolute",
                       "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
                           {"startPeriod": 0, "limit": 11040.0}, {"startPeriod": 1800, "limit": 6900.0},
                           {"startPeriod": 7200, "limit": 3450.0}]}}
            assert await admin.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}) == {"status": "Accepted"}
            tx_profile = profile | {"chargingProfileId": 8, "chargingProfilePurpose": "TxProfile"}
            assert await admin.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx_profile}) == {"status": "Rejected"}
            schedule = await admin.call("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"})
            assert schedule["status"] == "Accepted" and schedule["chargingSchedule"]["chargingRateUnit"] == "A"
            assert [p["limit"] for p in schedule["chargingSchedule"]["chargingSchedulePeriod"]] == [16.0, 10.0]
            assert await admin.call("ClearChargingProfile", {"id": 7}) == {"status": "Accepted"}
            assert await admin.call("ClearChargingProfile", {"id": 7}) == {"status": "Unknown"}
            assert "chargingSchedule" not in await admin.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60})

            # Firmware Management: the simulated jobs report their progress
            diagnostics, firmware = admin.messages("DiagnosticsStatusNotification"), admin.messages("FirmwareStatusNotification")
            answer = await admin.call("GetDiagnostics", {"location": "ftp://logs.example.com/"})
            assert answer["fileName"].startswith(f"diagnostics-{CP}-")
            assert await admin.call("UpdateFirmware", {"location": "https://fw.example.com/2.0.bin", "retrieveDate": later(0)}) == {}
            await until(lambda: admin.messages("DiagnosticsStatusNotification") >= diagnostics + 2
                        and admin.messages("FirmwareStatusNotification") >= firmware + 4)
            assert await admin.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}) == {"status": "Accepted"}
        finally:
            await admin.http.aclose()
            await worker.stop()
