"""What the central system answers to each charger-initiated action.

Handlers receive an already-validated payload and return the answer payload; the router validates
that too. Writes a charger will rely on (boot, start/stop, meter values) are awaited until the
store has *committed* them, so an acknowledged message survives a crash of this process. Every
write is fenced by the connection's ownership claim: when a newer connection of the charger
holds it (on any replica), the store raises Superseded and the connection ends without an answer
(the charger sends the message again on the connection it uses now).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from envctl.charger.protocol.errors import ErrorCode, OcppError
from envctl.charger.server.config import ServerConfig
from envctl.charger.server.router import Handler
from envctl.charger.server.metrics import Metrics
from envctl.charger.store.base import (
    STOP_OTHER_CHARGER,
    STOP_UNKNOWN,
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


log = logging.getLogger(__name__)


class Handlers:
    def __init__(self, store: Store, config: ServerConfig, metrics: Metrics) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics

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
            ),
            conn.claim,
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
        self.store.record_status(
            StatusRecord(conn.charger_id, connector, p["status"], p["errorCode"], p.get("info"), at), conn.claim
        )
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
        transaction_id = await self.store.start_transaction(start, conn.claim)
        conn.state.started(transaction_id, {"connectorId": start.connector_id, "idTag": start.id_tag,
                                            "meterStart": start.meter_start, "startedAt": p["timestamp"]})
        return {"transactionId": transaction_id, "idTagInfo": self.id_tag_info(start.id_tag)}

    async def stop_transaction(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        transaction_id = p["transactionId"]
        # transactionData goes into the stop's own database transaction, on the connector the
        # database has for it (the transaction may have been started on another replica)
        samples = _samples(conn.charger_id, 0, transaction_id, p.get("transactionData") or [])
        verdict = await self.store.stop_transaction(
            StopRecord(
                transaction_id=transaction_id,
                charger_id=conn.charger_id,
                meter_stop=p["meterStop"],
                stopped_at=_ts(p["timestamp"], "timestamp"),
                id_tag=p.get("idTag"),
                reason=p.get("reason"),
                samples=samples,
            ),
            conn.claim,
        )
        if verdict in (STOP_OTHER_CHARGER, STOP_UNKNOWN):
            # OCPP 1.6 (4.10): the Central System answers a StopTransaction whatever its sanity checks
            # find, or the charger would retry it forever; it is not applied, and counted.
            self.metrics.stop_refused(verdict)
            log.warning("charger %s: StopTransaction for transaction %s not applied (%s)",
                        conn.charger_id, transaction_id, verdict)
        else:
            conn.state.stopped_transaction(transaction_id)
        return {"idTagInfo": self.id_tag_info(p["idTag"])} if "idTag" in p else {}

    async def meter_values(self, conn: ChargerConnection, p: dict[str, Any]) -> dict[str, Any]:
        samples = _samples(conn.charger_id, p["connectorId"], p.get("transactionId") or 0, p["meterValue"])
        if samples:
            await self.store.record_meter_values(samples, conn.claim)
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
