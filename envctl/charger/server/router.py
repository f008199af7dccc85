"""Route a charger's CALL to its handler, the way mobilityhouse/ocpp's ChargePoint does.

Validate the request against the 1.6 schema before the handler runs and the answer after it
returns; every failure becomes a CALLERROR with the 1.6 code that fits, so a bad message costs the
charger one error frame and never its connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from envctl.charger.protocol.errors import ErrorCode, OcppError
from envctl.charger.protocol.frames import Call, CallError, CallResult
from envctl.charger.protocol.schemas import CHARGER_INITIATED, known_actions, validate_request, validate_response
from envctl.charger.store.base import Superseded

if TYPE_CHECKING:
    from envctl.charger.server.connection import ChargerConnection

log = logging.getLogger(__name__)

Handler = Callable[["ChargerConnection", dict[str, Any]], Awaitable[dict[str, Any]]]

# Actions the 1.6 spec defines but only the central system may initiate: a charger sending one
# gets NotSupported ("known, but not here"), whereas a made-up action gets NotImplemented.
CENTRAL_ONLY = known_actions() - CHARGER_INITIATED


class Router:
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers

    async def dispatch(self, conn: ChargerConnection, call: Call) -> CallResult | CallError:
        action = call.action
        try:
            handler = self.handlers.get(action)
            if handler is None:
                if action in CENTRAL_ONLY:
                    raise OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is initiated by the central system, not a charger")
                raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
            validate_request(action, call.payload)
            result = await handler(conn, call.payload)
            try:
                validate_response(action, result)
            except OcppError as exc:  # our own answer is wrong: that is an internal error, not the charger's
                log.error("%s answer for %s failed validation: %s", action, conn.charger_id, exc.description)
                raise OcppError(ErrorCode.INTERNAL_ERROR, f"{action}: the server produced an invalid answer") from None
            return CallResult(call.unique_id, result, action)
        except OcppError as exc:
            return CallError.from_exception(call.unique_id, exc)
        except Superseded:  # not the charger's fault nor ours: its newer connection carries on
            raise
        except Exception:
            log.exception("%s handler failed for charger %s", action, conn.charger_id)
            return CallError(call.unique_id, ErrorCode.INTERNAL_ERROR.value, f"{action} failed inside the server")
