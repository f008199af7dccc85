"""Validate OCPP 1.6 payloads against the official JSON schemas shipped in the `ocpp` package.

Schemas are compiled once with fastjsonschema (a Python validator generated per schema) because
validation sits on the per-message hot path of every connection.

The schemas say "integer" without a range; OCPP's integer is 32-bit signed, and the store's
columns are too. A JSON integer outside that range (2**63 once gave InternalError and a traceback
on every retry of a StartTransaction) is a PropertyConstraintViolation like any other bad value.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

from envctl.charger.protocol.errors import ErrorCode, OcppError

CHARGER_INITIATED = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
)
# What the central system may send a charge point, by 1.6 feature profile (every profile envctl
# supports: Core, Firmware Management, Local Auth List Management, Reservation, Smart Charging,
# Remote Trigger).
CENTRAL_INITIATED_BY_PROFILE = {
    "Core": ("ChangeAvailability", "ChangeConfiguration", "ClearCache", "DataTransfer", "GetConfiguration",
             "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector"),
    "FirmwareManagement": ("GetDiagnostics", "UpdateFirmware"),
    "LocalAuthListManagement": ("GetLocalListVersion", "SendLocalList"),
    "Reservation": ("CancelReservation", "ReserveNow"),
    "SmartCharging": ("ClearChargingProfile", "GetCompositeSchedule", "SetChargingProfile"),
    "RemoteTrigger": ("TriggerMessage",),
}
CENTRAL_INITIATED = frozenset(a for actions in CENTRAL_INITIATED_BY_PROFILE.values() for a in actions)

# Which CALLERROR a schema rule maps to (OCPP 1.6 section 4.2.3 definitions).
_RULE_TO_CODE = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
}


def known_actions() -> frozenset[str]:
    folder = resources.files("ocpp.v16") / "schemas"
    return frozenset(p.name[: -len(".json")] for p in folder.iterdir() if not p.name.endswith("Response.json"))


@functools.cache
def _schema(name: str) -> dict[str, Any] | None:
    path = resources.files("ocpp.v16") / "schemas" / f"{name}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    schema.pop("$schema", None)  # fastjsonschema picks draft-04 semantics by default
    return schema


@functools.cache
def _validator(name: str) -> Callable[[Any], Any] | None:
    schema = _schema(name)
    if schema is None:
        return None
    return fastjsonschema.compile(schema, detailed_exceptions=True, use_formats=True)


def example_request(action: str) -> dict[str, Any]:
    """A payload with the action's required fields only, each with a plausible value (for error hints)."""
    schema = _schema(action)
    return _example(schema) if schema is not None else {}


def _example(prop: dict[str, Any]) -> Any:
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "object":
        props = prop.get("properties", {})
        return {k: _example(props[k]) for k in prop.get("required", []) if k in props}
    if kind == "array":
        return [_example(prop.get("items", {}))]
    if kind == "string":
        return {"date-time": "2026-01-01T00:00:00Z", "uri": "https://example.com/"}.get(prop.get("format", ""), "...")
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind or "", None)


INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _out_of_range(value: Any, path: str) -> str | None:
    """The path of the first integer outside OCPP's 32-bit range, or None."""
    if type(value) is int:
        return path if not INT_MIN <= value <= INT_MAX else None
    if type(value) is dict:
        for k, v in value.items():
            if type(v) in (int, dict, list) and (found := _out_of_range(v, f"{path}.{k}" if path else k)):
                return found
    elif type(value) is list:
        for i, v in enumerate(value):
            if type(v) in (int, dict, list) and (found := _out_of_range(v, f"{path}[{i}]")):
                return found
    return None


def validate_request(action: str, payload: dict[str, Any]) -> None:
    _validate(action, payload)


def validate_response(action: str, payload: dict[str, Any]) -> None:
    _validate(f"{action}Response", payload)


def _validate(name: str, payload: dict[str, Any]) -> None:
    validator = _validator(name)
    if validator is None:
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"no OCPP 1.6 schema for {name}")
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_TO_CODE.get(exc.rule or "", ErrorCode.FORMATION_VIOLATION)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise OcppError(code, f"{name}: {field}: {exc.message}", {"field": field, "rule": exc.rule}) from None
    field = _out_of_range(payload, "")
    if field is not None:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                        f"{name}: {field}: outside the 32-bit integer range OCPP allows ({INT_MIN}..{INT_MAX})",
                        {"field": field, "rule": "maximum"})
