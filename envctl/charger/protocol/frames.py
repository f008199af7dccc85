"""OCPP-J frames: [2, id, action, payload] / [3, id, payload] / [4, id, code, description, details].

Parsing never raises anything but OcppError, so a bad frame becomes a CALLERROR and the
connection lives on.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from envctl.charger.protocol.errors import ErrorCode, OcppError

CALL = 2
CALL_RESULT = 3
CALL_ERROR = 4

# The id used in a CALLERROR when the offending frame carried no readable message id.
UNKNOWN_MESSAGE_ID = "-1"


@dataclass(slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return orjson.dumps([CALL, self.unique_id, self.action, self.payload]).decode()


@dataclass(slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]
    action: str | None = None  # not on the wire; filled in by whoever knows the pending CALL

    def encode(self) -> str:
        return orjson.dumps([CALL_RESULT, self.unique_id, self.payload]).decode()


@dataclass(slots=True)
class CallError:
    unique_id: str
    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        return orjson.dumps([CALL_ERROR, self.unique_id, self.code, self.description, self.details]).decode()

    @classmethod
    def from_exception(cls, unique_id: str, err: OcppError) -> CallError:
        return cls(unique_id, err.code.value, err.description, err.details)


Frame = Call | CallResult | CallError


class FrameError(OcppError):
    """A frame that cannot be processed; `unique_id` is what the CALLERROR must echo."""

    def __init__(self, unique_id: str, code: ErrorCode, description: str) -> None:
        super().__init__(code, description)
        self.unique_id = unique_id


def parse(raw: str | bytes) -> Frame:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError(UNKNOWN_MESSAGE_ID, ErrorCode.FORMATION_VIOLATION, "frame is not valid JSON") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise FrameError(
            UNKNOWN_MESSAGE_ID, ErrorCode.FORMATION_VIOLATION, "frame must be a JSON array [type, id, ...]"
        )
    kind, unique_id = msg[0], msg[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > 36:
        raise FrameError(
            UNKNOWN_MESSAGE_ID, ErrorCode.FORMATION_VIOLATION, "message id must be a string of 1-36 characters"
        )
    if kind == CALL:
        if len(msg) != 4 or not isinstance(msg[2], str):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALL must be [2, id, action, payload]")
        if not isinstance(msg[3], dict):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALL payload must be a JSON object")
        return Call(unique_id, msg[2], msg[3])
    if kind == CALL_RESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameError(unique_id, ErrorCode.FORMATION_VIOLATION, "CALLRESULT must be [3, id, {payload}]")
        return CallResult(unique_id, msg[2])
    if kind == CALL_ERROR:
        if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str) or not isinstance(msg[4], dict):
            raise FrameError(
                unique_id, ErrorCode.FORMATION_VIOLATION, "CALLERROR must be [4, id, code, description, {details}]"
            )
        return CallError(unique_id, msg[2], msg[3], msg[4])
    raise FrameError(unique_id, ErrorCode.PROTOCOL_ERROR, f"unknown message type {kind!r}; expected 2, 3 or 4")


class MessageIds:
    """Unique ids for outbound CALLs; injectable so tests can predict them."""

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix if prefix is not None else os.urandom(4).hex()
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"
