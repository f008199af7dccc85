"""OCPP 1.6J CALLERROR codes, spelled exactly as the 1.6 specification (section 4.2.3) spells them.

Note the spec's own spellings: "FormationViolation" (not FormatViolation, which is OCPP 2.x) and
"OccurenceConstraintViolation" (one r).
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    NOT_IMPLEMENTED = "NotImplemented"  # the action is unknown
    NOT_SUPPORTED = "NotSupported"  # known action, but not supported by this side
    INTERNAL_ERROR = "InternalError"  # the handler failed
    PROTOCOL_ERROR = "ProtocolError"  # payload incomplete, or the frame breaks the message protocol
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"  # syntactically wrong, or not the PDU structure
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"  # a field has an invalid value
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # a field is missing / repeated
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"  # a field has the wrong data type
    GENERIC_ERROR = "GenericError"


class OcppError(Exception):
    """Raised anywhere on the receive path; the connection turns it into one CALLERROR frame."""

    def __init__(self, code: ErrorCode, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code.value}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class CallErrorReceived(Exception):
    """The peer answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class CallTimeout(Exception):
    """The peer did not answer our CALL in time."""
