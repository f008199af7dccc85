"""OCPP 1.6J behaviour of the charger-server over real WebSockets (in-process server, SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from envctl.charger.server.app import CentralSystem
from tests.integration.charger.conftest import boot, charger, ocpp_call, running_server

pytestmark = pytest.mark.timeout(30)


async def test_boot_is_accepted_with_time_and_interval_and_persisted(tmp_path: Path) -> None:
    async with running_server(tmp_path, heartbeat_interval=42) as cs, charger(cs.ocpp_url("CP1")) as ws:
        assert ws.subprotocol == "ocpp1.6"
        answer = await boot(ws)
        assert answer["status"] == "Accepted" and answer["interval"] == 42
        assert answer["currentTime"].endswith("Z")
        row = await cs.store.get_charger("CP1")
        assert row is not None and row["vendor"] == "envctl" and row["model"] == "test-1"
        hb = await ocpp_call(ws, "Heartbeat", {})
        assert hb[0] == 3 and "currentTime" in hb[2]


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_status_is_configurable(tmp_path: Path, status: str) -> None:
    async with running_server(tmp_path, boot_status=status) as cs, charger(cs.ocpp_url("CP1")) as ws:
        assert (await boot(ws))["status"] == status


async def test_handshake_without_ocpp16_subprotocol_is_refused_with_a_reason(central_system: CentralSystem) -> None:
    with pytest.raises(InvalidStatus) as err:
        async with charger(central_system.ocpp_url("CP1"), subprotocols=None):
            pass
    assert err.value.response.status_code == 400
    assert b"ocpp1.6" in err.value.response.body
    with pytest.raises(InvalidStatus) as err:
        async with charger(central_system.ocpp_url("CP1"), subprotocols=["ocpp2.0.1"]):
            pass
    assert err.value.response.status_code == 400


async def test_wrong_path_is_404(central_system: CentralSystem) -> None:
    with pytest.raises(InvalidStatus) as err:
        async with charger(f"ws://127.0.0.1:{central_system.ocpp_port}/elsewhere/CP1"):
            pass
    assert err.value.response.status_code == 404


async def test_allowlist_refuses_unknown_chargers_with_404(tmp_path: Path) -> None:
    async with running_server(tmp_path, allowlist=frozenset({"KNOWN"})) as cs:
        with pytest.raises(InvalidStatus) as err:
            async with charger(cs.ocpp_url("STRANGER")):
                pass
        assert err.value.response.status_code == 404
        assert b"STRANGER" in err.value.response.body
        async with charger(cs.ocpp_url("KNOWN")) as ws:
            await boot(ws)


BAD_FRAMES: list[tuple[str | bytes, str, str]] = [
    ("this is not json", "-1", "FormationViolation"),
    (b"\x00\xffbinary", "-1", "FormationViolation"),
    ('{"not": "an array"}', "-1", "FormationViolation"),
    ('[2, "a1", "Heartbeat"]', "a1", "FormationViolation"),
    ('[2, "a2", "Heartbeat", []]', "a2", "FormationViolation"),
    ('[9, "a3", "Heartbeat", {}]', "a3", "ProtocolError"),
    ('[2, "a4", "MakeCoffee", {}]', "a4", "NotImplemented"),
    ('[2, "a5", "Reset", {"type": "Hard"}]', "a5", "NotSupported"),
    ('[2, "a6", "RemoteStartTransaction", {"idTag": "x"}]', "a6", "NotSupported"),
    ('[2, "a7", "BootNotification", {"chargePointVendor": "v"}]', "a7", "OccurenceConstraintViolation"),
    ('[2, "a8", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "m"}]', "a8", "TypeConstraintViolation"),
    ('[2, "a9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Flying"}]', "a9",
     "PropertyConstraintViolation"),
    ('[2, "a10", "Heartbeat", {"unexpected": 1}]', "a10", "FormationViolation"),
    ('[2, "a11", "StartTransaction", {"connectorId": 1, "idTag": "t", "meterStart": 0, "timestamp": "yesterday"}]',
     "a11", "PropertyConstraintViolation"),
    ('[2, "a12", "Authorize", {"idTag": "' + "x" * 21 + '"}]', "a12", "PropertyConstraintViolation"),
]


async def test_each_bad_frame_gets_its_code_and_the_connection_still_answers(central_system: CentralSystem) -> None:
    async with charger(central_system.ocpp_url("CP1")) as ws:
        await boot(ws)
        for raw, unique_id, code in BAD_FRAMES:
            await ws.send(raw)
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame[0] == 4, (raw, frame)
            assert (frame[1], frame[2]) == (unique_id, code), (raw, frame)
            assert isinstance(frame[3], str) and isinstance(frame[4], dict)
            hb = await ocpp_call(ws, "Heartbeat", {})  # the connection lives on
            assert hb[0] == 3, (raw, hb)
    stats = central_system.stats()
    assert stats["callerrors_by_code"]["FormationViolation"] >= 5


async def test_a_crashing_handler_becomes_internal_error(central_system: CentralSystem) -> None:
    async def crash(conn: Any, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    central_system.router.handlers["DataTransfer"] = crash
    async with charger(central_system.ocpp_url("CP1")) as ws:
        frame = await ocpp_call(ws, "DataTransfer", {"vendorId": "acme"})
        assert frame[:3] == [4, frame[1], "InternalError"]
        assert "boom" not in frame[3]  # no internals leak to the charger
        assert (await ocpp_call(ws, "Heartbeat", {}))[0] == 3


async def test_answers_with_unknown_ids_are_ignored(central_system: CentralSystem) -> None:
    async with charger(central_system.ocpp_url("CP1")) as ws:
        await ws.send('[3, "never-sent", {}]')
        await ws.send('[4, "never-sent-either", "GenericError", "", {}]')
        hb = await ocpp_call(ws, "Heartbeat", {})
        assert hb[0] == 3  # nothing else came back first


async def test_frames_over_the_cap_close_with_1009(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_frame_bytes=4096) as cs, charger(cs.ocpp_url("CP1")) as ws:
        await boot(ws)
        big = orjson.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 5000}]).decode()
        await ws.send(big)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1009


async def test_all_charger_initiated_actions_are_answered(central_system: CentralSystem) -> None:
    now = "2024-05-01T10:00:00Z"
    async with charger(central_system.ocpp_url("CP1")) as ws:
        await boot(ws)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": now}),
            ("Authorize", {"idTag": "TAG1"}),
            ("DataTransfer", {"vendorId": "acme", "messageId": "m", "data": "d"}),
            ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
            ("FirmwareStatusNotification", {"status": "Installed"}),
        ]
        for action, payload in calls:
            frame = await ocpp_call(ws, action, payload)
            assert frame[0] == 3, (action, frame)
        start = await ocpp_call(ws, "StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 100,
                                                         "timestamp": now})
        tx = start[2]["transactionId"]
        assert start[2]["idTagInfo"] == {"status": "Accepted"}
        mv = {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": "2024-05-01T10:01:00Z", "sampledValue": [
                {"value": "150", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L1"}]}]}
        assert (await ocpp_call(ws, "MeterValues", mv))[0] == 3
        stop = await ocpp_call(ws, "StopTransaction", {"transactionId": tx, "meterStop": 300, "timestamp": now,
                                                       "idTag": "TAG1", "reason": "Local"})
        assert stop[2] == {"idTagInfo": {"status": "Accepted"}}
    [row] = await central_system.store.list_transactions("CP1")
    assert row["id"] == tx and row["meter_start"] == 100 and row["meter_stop"] == 300 and row["reason"] == "Local"
    assert await central_system.store.count_meter_values("CP1") == 2


async def test_id_tags_file_limits_authorization(tmp_path: Path) -> None:
    async with running_server(tmp_path, id_tags=frozenset({"GOOD"})) as cs, charger(cs.ocpp_url("CP1")) as ws:
        assert (await ocpp_call(ws, "Authorize", {"idTag": "GOOD"}))[2]["idTagInfo"]["status"] == "Accepted"
        assert (await ocpp_call(ws, "Authorize", {"idTag": "BAD"}))[2]["idTagInfo"]["status"] == "Invalid"


async def test_second_connection_replaces_the_first_and_keeps_state(central_system: CentralSystem) -> None:
    url = central_system.ocpp_url("CP1")
    async with charger(url) as first:
        await boot(first)
        await ocpp_call(first, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
        start = await ocpp_call(first, "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                                            "timestamp": "2024-05-01T10:00:00Z"})
        async with charger(url) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            assert first.close_code in (1000, 1001) and first.close_reason == "replaced"
            assert (await ocpp_call(second, "Heartbeat", {}))[0] == 3
            assert len(central_system.registry) == 1
            state = central_system.registry.state("CP1")
            assert state.boot is not None and state.boot["chargePointModel"] == "test-1"
            assert state.connectors[1]["status"] == "Charging"
            assert start[2]["transactionId"] in state.open_transactions
            # the replaced connection's teardown did not unregister its successor
            await asyncio.sleep(0.1)
            assert central_system.registry.get("CP1") is not None
            stats = central_system.stats()
            assert stats["connections"] == 1 and stats["connects_total"] == 2
