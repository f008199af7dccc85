"""Answers to central-initiated CALLs, routed by action name.

Each handler gets a schema-valid request and returns (response payload, follow-up). The follow-up
runs only after the response is on the wire, because 1.6 wants e.g. the TriggerMessage answer
before the triggered message, and the Reset answer before the reboot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envctl.charger.protocol.errors import ErrorCode, OcppError
from envctl.charger.protocol.schemas import CENTRAL_INITIATED, known_actions, validate_request, validate_response
from envctl.charger.simulator import configuration_keys, management

if TYPE_CHECKING:
    from envctl.charger.simulator.chargepoint import ChargePoint

FollowUp = Callable[[], None] | None
Handler = Callable[["ChargePoint", dict[str, Any]], tuple[dict[str, Any], FollowUp]]

VENDOR_ID = "envctl"


def remote_start(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    connector = cp.free_connector(req.get("connectorId"))
    if connector is None:
        return {"status": "Rejected"}, None
    cp.reserve(connector)
    return {"status": "Accepted"}, lambda: cp.start_session(connector, req["idTag"], remote=True)


def remote_stop(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    session = cp.session_by_transaction(req["transactionId"])
    if session is None:
        return {"status": "Rejected"}, None
    return {"status": "Accepted"}, lambda: cp.stop_session(session, "Remote")


def reset(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return {"status": "Accepted"}, lambda: cp.reset("HardReset" if req["type"] == "Hard" else "SoftReset")


def change_configuration(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return {"status": configuration_keys.change_configuration(cp, req["key"], req["value"])}, None


def get_configuration(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return configuration_keys.get_configuration(cp, req.get("key")), None


_TRIGGERABLE = {
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
}


def trigger_message(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    what, connector = req["requestedMessage"], req.get("connectorId")
    if what not in _TRIGGERABLE:
        return {"status": "NotImplemented"}, None
    if connector is not None and not 0 <= connector <= cp.ctx.cfg.connectors:
        return {"status": "Rejected"}, None
    return {"status": "Accepted"}, lambda: cp.triggered(what, connector)


def data_transfer(cp: ChargePoint, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    if req["vendorId"] != VENDOR_ID:
        return {"status": "UnknownVendorId"}, None
    if req.get("messageId") not in (None, "echo"):
        return {"status": "UnknownMessageId"}, None
    out: dict[str, Any] = {"status": "Accepted"}
    if "data" in req:
        out["data"] = req["data"]
    return out, None


HANDLERS: dict[str, Handler] = {
    "RemoteStartTransaction": remote_start,
    "RemoteStopTransaction": remote_stop,
    "Reset": reset,
    "ChangeConfiguration": change_configuration,
    "GetConfiguration": get_configuration,
    "TriggerMessage": trigger_message,
    "DataTransfer": data_transfer,
    **management.HANDLERS,
}
assert set(HANDLERS) == CENTRAL_INITIATED


def handle(cp: ChargePoint, action: str, payload: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    """Validated answer, or OcppError (which the connection turns into a CALLERROR)."""
    handler = HANDLERS.get(action)
    if handler is None:
        if action in known_actions():
            raise OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported by this simulated charger")
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
    validate_request(action, payload)
    response, follow_up = handler(cp, payload)
    validate_response(action, response)
    return response, follow_up
