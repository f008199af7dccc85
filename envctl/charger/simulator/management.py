"""What a simulated charger remembers of the central system's management calls, and its answers to them.

OCPP 1.6 profiles beyond the basics (availability, local authorization list, reservations, smart
charging, firmware and diagnostics). Most simulated chargers never receive one of these calls, so
the state lives in a `Management` object created on the first such call (ChargePoint.mgmt), not
in every charger's slots. Each handler gets a schema-valid request and returns (answer, follow-up)
like the ones in central.py; the follow-up runs once the answer is on the wire.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envctl.charger.simulator.txqueue import Session

if TYPE_CHECKING:
    from envctl.charger.simulator.chargepoint import ChargePoint

FollowUp = Callable[[], None] | None
Answer = tuple[dict[str, Any], FollowUp]
VOLTS = 230.0  # to turn a schedule in W into A and back (GetCompositeSchedule)
STATUS_STEP_S = 0.2  # between the firmware/diagnostics status notifications of the simulated job


@dataclass
class Management:
    inoperative: set[int] = field(default_factory=set)  # connector ids; 0 = the whole charger
    pending_inoperative: set[int] = field(default_factory=set)  # "Scheduled": once their session ends
    list_version: int = 0  # 0: no local list installed
    local_list: dict[str, dict[str, Any]] = field(default_factory=dict)  # idTag -> idTagInfo
    reservations: dict[int, dict[str, Any]] = field(default_factory=dict)  # connector -> ReserveNow request
    profiles: list[dict[str, Any]] = field(default_factory=list)  # {"connectorId", "profile"}
    diagnostics_status: str = "Idle"
    firmware_status: str = "Idle"

    def unavailable(self, connector: int) -> bool:
        return 0 in self.inoperative or connector in self.inoperative

    def reservation(self, connector: int) -> dict[str, Any] | None:
        r = self.reservations.get(connector)
        if r is not None and _parse(r["expiryDate"]) <= datetime.now(timezone.utc):
            del self.reservations[connector]
            return None
        return r


def _parse(ts: str) -> datetime:
    value = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _mgmt(cp: ChargePoint) -> Management:
    if cp.mgmt is None:
        cp.mgmt = Management()
    return cp.mgmt


def _valid_connector(cp: ChargePoint, connector: int, allow_zero: bool = True) -> bool:
    return (0 if allow_zero else 1) <= connector <= cp.ctx.cfg.connectors


def _connectors(cp: ChargePoint, connector: int) -> list[int]:
    return list(range(1, cp.ctx.cfg.connectors + 1)) if connector == 0 else [connector]


# ---- Core -----------------------------------------------------------------------------------

def change_availability(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    connector, operative = req["connectorId"], req["type"] == "Operative"
    if not _valid_connector(cp, connector):
        return {"status": "Rejected"}, None
    m = _mgmt(cp)
    if operative:
        m.inoperative.discard(connector)
        m.pending_inoperative.discard(connector)
        if connector == 0:
            m.inoperative.clear()
            m.pending_inoperative.clear()
        return {"status": "Accepted"}, lambda: _announce(cp, connector)
    busy = [c for c in _connectors(cp, connector) if isinstance(cp.connectors[c - 1], Session)]
    if busy:  # 1.6: a transaction in progress finishes first
        m.pending_inoperative.add(connector)
        return {"status": "Scheduled"}, None
    m.inoperative.add(connector)
    return {"status": "Accepted"}, lambda: _announce(cp, connector)


def session_ended(cp: ChargePoint, connector: int) -> None:
    """A session ended: a ChangeAvailability answered Scheduled takes effect now."""
    m = cp.mgmt
    if m is None or not m.pending_inoperative:
        return
    for target in list(m.pending_inoperative):
        if target in (0, connector) and not any(isinstance(cp.connectors[c - 1], Session) for c in _connectors(cp, target)):
            m.pending_inoperative.discard(target)
            m.inoperative.add(target)


def _announce(cp: ChargePoint, connector: int) -> None:
    for c in ([0] if connector == 0 else []) + _connectors(cp, connector):
        cp.send_status(c)


def unlock_connector(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    connector = req["connectorId"]
    if not _valid_connector(cp, connector, allow_zero=False):
        return {"status": "NotSupported"}, None
    slot = cp.connectors[connector - 1]
    if isinstance(slot, Session):  # unlocking the cable ends its session (1.6: reason UnlockCommand)
        return {"status": "Unlocked"}, lambda: cp.stop_session(slot, "UnlockCommand")
    return {"status": "Unlocked"}, None


def clear_cache(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    return {"status": "Accepted"}, None  # the simulator keeps no authorization cache: nothing to clear


# ---- Local Auth List Management ----------------------------------------------------------------

def get_local_list_version(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    return {"listVersion": cp.mgmt.list_version if cp.mgmt else 0}, None


def send_local_list(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    m = _mgmt(cp)
    entries = req.get("localAuthorizationList") or []
    if req["updateType"] == "Full":
        m.local_list = {e["idTag"]: e["idTagInfo"] for e in entries if "idTagInfo" in e}
    else:
        if req["listVersion"] <= m.list_version:
            return {"status": "VersionMismatch"}, None
        for e in entries:
            if "idTagInfo" in e:
                m.local_list[e["idTag"]] = e["idTagInfo"]
            else:
                m.local_list.pop(e["idTag"], None)
    m.list_version = req["listVersion"]
    return {"status": "Accepted"}, None


# ---- Reservation -----------------------------------------------------------------------------

def reserve_now(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    connector = req["connectorId"]
    if not _valid_connector(cp, connector):
        return {"status": "Rejected"}, None
    m = _mgmt(cp)
    for c, r in list(m.reservations.items()):  # the same reservation id again: it is replaced
        if r["reservationId"] == req["reservationId"]:
            del m.reservations[c]
    if any(m.unavailable(c) for c in _connectors(cp, connector)):
        return {"status": "Unavailable"}, None
    if connector and (cp.connectors[connector - 1] is not None or m.reservation(connector) is not None):
        return {"status": "Occupied"}, None
    m.reservations[connector] = dict(req)
    return {"status": "Accepted"}, lambda: cp.send_status(connector)


def cancel_reservation(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    m = cp.mgmt
    for connector, r in list((m.reservations if m else {}).items()):
        if r["reservationId"] == req["reservationId"]:
            del m.reservations[connector]  # type: ignore[union-attr]
            return {"status": "Accepted"}, lambda: cp.send_status(connector)
    return {"status": "Rejected"}, None


# ---- Smart Charging --------------------------------------------------------------------------

def set_charging_profile(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    connector, profile = req["connectorId"], req["csChargingProfiles"]
    if not _valid_connector(cp, connector):
        return {"status": "Rejected"}, None
    purpose = profile["chargingProfilePurpose"]
    if purpose == "ChargePointMaxProfile" and connector != 0:
        return {"status": "Rejected"}, None
    if purpose == "TxProfile" and (connector == 0 or not isinstance(cp.connectors[connector - 1], Session)):
        return {"status": "Rejected"}, None  # 1.6: a TxProfile needs a transaction on its connector
    m = _mgmt(cp)
    m.profiles = [p for p in m.profiles if not (
        p["profile"]["chargingProfileId"] == profile["chargingProfileId"]
        or (p["connectorId"] == connector and p["profile"]["stackLevel"] == profile["stackLevel"]
            and p["profile"]["chargingProfilePurpose"] == purpose))]
    m.profiles.append({"connectorId": connector, "profile": profile})
    return {"status": "Accepted"}, None


def clear_charging_profile(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    m = cp.mgmt
    if m is None:
        return {"status": "Unknown"}, None

    def matches(p: dict[str, Any]) -> bool:
        prof = p["profile"]
        if "id" in req:
            return bool(prof["chargingProfileId"] == req["id"])
        return all(want is None or have == want for have, want in (
            (p["connectorId"], req.get("connectorId")), (prof["chargingProfilePurpose"], req.get("chargingProfilePurpose")),
            (prof["stackLevel"], req.get("stackLevel"))))

    kept = [p for p in m.profiles if not matches(p)]
    cleared = len(kept) != len(m.profiles)
    m.profiles = kept
    return {"status": "Accepted" if cleared else "Unknown"}, None


def get_composite_schedule(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    connector, duration = req["connectorId"], req["duration"]
    if not _valid_connector(cp, connector):
        return {"status": "Rejected"}, None
    start = _now()
    answer: dict[str, Any] = {"status": "Accepted", "connectorId": connector, "scheduleStart": start}
    candidates = [p["profile"] for p in (cp.mgmt.profiles if cp.mgmt else []) if p["connectorId"] in (0, connector)]
    if not candidates:
        return answer, None
    top = max(candidates, key=lambda prof: prof["stackLevel"])  # the highest stack level wins (1.6 3.13.2)
    schedule = top["chargingSchedule"]
    unit = req.get("chargingRateUnit", schedule["chargingRateUnit"])
    periods = []
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] >= duration:
            break
        limit = _in_unit(period["limit"], schedule["chargingRateUnit"], unit, period.get("numberPhases", 3))
        periods.append(period | {"limit": limit})
    answer["chargingSchedule"] = {"duration": duration, "startSchedule": start, "chargingRateUnit": unit,
                                  "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": 0.0}]}
    return answer, None


def _in_unit(limit: float, have: str, want: str, phases: int) -> float:
    if have == want:
        return float(limit)
    factor = VOLTS * phases
    return round(limit * factor, 1) if want == "W" else round(limit / factor, 1)


# ---- Firmware Management -----------------------------------------------------------------------

def get_diagnostics(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    name = f"diagnostics-{cp.id}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
    return {"fileName": name}, lambda: _job(cp, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"])


def update_firmware(cp: ChargePoint, req: dict[str, Any]) -> Answer:
    steps = ["Downloading", "Downloaded", "Installing", "Installed"]
    delay = max(0.0, (_parse(req["retrieveDate"]) - datetime.now(timezone.utc)).total_seconds())
    return {}, lambda: _job(cp, "FirmwareStatusNotification", steps, delay)


def _job(cp: ChargePoint, action: str, steps: list[str], delay: float = 0.0) -> None:
    """Report a simulated upload or firmware update, one status notification per step."""
    loop = asyncio.get_running_loop()
    for i, status in enumerate(steps):
        loop.call_later(delay + STATUS_STEP_S * (i + 1), _report, cp, action, status)


def _report(cp: ChargePoint, action: str, status: str) -> None:
    m = _mgmt(cp)
    if action == "FirmwareStatusNotification":
        m.firmware_status = status
    else:
        m.diagnostics_status = status
    cp.send_later(action, {"status": status})


def job_status(cp: ChargePoint, action: str) -> str:
    """The last status of the firmware or diagnostics job (TriggerMessage asks for it)."""
    m = cp.mgmt
    if m is None:
        return "Idle"
    return m.firmware_status if action == "FirmwareStatusNotification" else m.diagnostics_status


HANDLERS = {
    "ChangeAvailability": change_availability,
    "UnlockConnector": unlock_connector,
    "ClearCache": clear_cache,
    "GetLocalListVersion": get_local_list_version,
    "SendLocalList": send_local_list,
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
    "SetChargingProfile": set_charging_profile,
    "ClearChargingProfile": clear_charging_profile,
    "GetCompositeSchedule": get_composite_schedule,
    "GetDiagnostics": get_diagnostics,
    "UpdateFirmware": update_firmware,
}
