"""What the central system answers to each charger-initiated action.

Handlers receive an already-validated payload and return the answer payload; the router validates
that too. Writes a charger will rely on (boot, start/stop, meter values) are awaited until the
store has *committed* them, so an acknowledged message survives a crash of this process.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from envctl.charger.protocol.errors import ErrorCode, OcppError
from envctl.charger.server.config import ServerConfig
from envctl.charger.server.router import Handler
from envctl.charger.store.base import (
    BootRecord,
    MeterSample,
    StartRecord,
    StatusRecord,
    Store,
    StopRecord,
    parse_ts,
    utcnow,
)

if TYPE_CHECKING:
    from envctl.charger.server.connection import ChargerConnection


def ocpp_time(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts(value: str, field: str) -> datetime:
    try:
        return parse_ts(value)
    except ValueError:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: {value!r} is not an RFC 3339 date-time") from None


class Handlers:
    def __init__(self, store: Store, config: ServerConfig) -> None:
        self.store = store
        self.config = config

    def table(self) -> dict[str, Handler]:
        return {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "StopTransaction": self.stop_transaction,
            "MeterValues": self.meter_values,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.empty_answer,
            "FirmwareStatusNotification": self.empty_answer,
        }

    def id_tag_info(self, id_tag: str) -> dict[str, str]:
        tags = self.config.id_tags
        return {"status": "Accepted" if tags is None or id_tag in tags else "Invalid"}

    async def boot_notification(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        await self.store.record_boot(
            BootRecord(
                charger_id=conn.charger_id,
                vendor=p["chargePointVendor"],
                model=p["chargePointModel"],
                serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
                firmware_version=p.get("firmwareVersion"),
                payload=p,
                at=now,
            )
        )
        conn.state.boot = p
        conn.state.booted_at = ocpp_time(now)
        return {"status": self.config.boot_status, "currentTime": ocpp_time(now), "interval": self.config.heartbeat_interval}

    async def heartbeat(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        self.store.touch(conn.charger_id, now)
        return {"currentTime": ocpp_time(now)}

    async def status_notification(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        at = _ts(p["timestamp"], "timestamp") if "timestamp" in p else utcnow()
        connector = p["connectorId"]
        conn.state.connectors[connector] = {"status": p["status"], "errorCode": p["errorCode"]}
        self.store.record_status(StatusRecord(conn.charger_id, connector, p["status"], p["errorCode"], p.get("info"), at))
        return {}

    async def authorize(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": self.id_tag_info(p["idTag"])}

    async def start_transaction(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        start = StartRecord(
            charger_id=conn.charger_id,
            connector_id=p["connectorId"],
            id_tag=p["idTag"],
            meter_start=p["meterStart"],
            started_at=_ts(p["timestamp"], "timestamp"),
            reservation_id=p.get("reservationId"),
        )
        transaction_id = await self.store.start_transaction(start)
        conn.state.open_transactions[transaction_id] = {"connectorId": start.connector_id, "idTag": start.id_tag}
        return {"transactionId": transaction_id, "idTagInfo": self.id_tag_info(start.id_tag)}

    async def stop_transaction(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        transaction_id = p["transactionId"]
        open_tx = conn.state.open_transactions.get(transaction_id)
        connector = open_tx["connectorId"] if open_tx else 0
        samples = _samples(conn.charger_id, connector, transaction_id, p.get("transactionData") or [])
        if samples:  # committed before the stop, so a stopped transaction always has its data
            await self.store.record_meter_values(samples)
        await self.store.stop_transaction(
            StopRecord(
                transaction_id=transaction_id,
                charger_id=conn.charger_id,
                meter_stop=p["meterStop"],
                stopped_at=_ts(p["timestamp"], "timestamp"),
                id_tag=p.get("idTag"),
                reason=p.get("reason"),
            )
        )
        conn.state.open_transactions.pop(transaction_id, None)
        return {"idTagInfo": self.id_tag_info(p["idTag"])} if "idTag" in p else {}

    async def meter_values(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        samples = _samples(conn.charger_id, p["connectorId"], p.get("transactionId") or 0, p["meterValue"])
        if samples:
            await self.store.record_meter_values(samples)
        return {}

    async def data_transfer(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    async def empty_answer(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        return {}


def _samples(charger_id: str, connector: int, transaction_id: int, meter_values: list[dict[str, Any]]) -> list[MeterSample]:
    out: list[MeterSample] = []
    for mv in meter_values:
        ts = _ts(mv["timestamp"], "meterValue.timestamp")
        for sv in mv["sampledValue"]:
            out.append(
                MeterSample(
                    charger_id=charger_id,
                    connector_id=connector,
                    transaction_id=transaction_id,
                    ts=ts,
                    value=sv["value"],
                    measurand=sv.get("measurand", ""),
                    phase=sv.get("phase", ""),
                    location=sv.get("location", ""),
                    context=sv.get("context", ""),
                    unit=sv.get("unit", ""),
                )
            )
    return out
