"""The admin API's charger endpoints: this replica's list, and per charger, answers for the whole fleet.

    GET  /admin/chargers                ?limit=N (default 1000) -> {"count", "chargers": [ids here, oldest first]}
    GET  /admin/chargers/{id}           the charger's state (boot, connectors, open transactions, where it is
                                        connected), from the replica that holds it; 404 when connected nowhere,
                                        with where/when it was last seen and what the store has for it
    POST /admin/chargers/{id}/call      {"action", "payload", "timeout_s"?} -> the charger's answer payload,
                                        through the replica that holds it (header X-Envctl-Replica says which);
                                        404 connected nowhere, 422 invalid request, 502 CALLERROR, 504 timeout

Transaction data (open transactions and their idTags, RFID card numbers) is shown only with the
admin token when one is configured; without it the state says how many there are.
A charger id that breaks OCPP's identity grammar is answered 422 (protocol/identity.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from envctl.charger.protocol import identity
from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, OcppError
from envctl.charger.protocol.schemas import CENTRAL_INITIATED
from envctl.charger.server import admin_token
from envctl.charger.server.admin_client import ANSWERED_BY, FORWARDED_BY
from envctl.charger.server.admin_errors import BadRequest, json_object, number
from envctl.charger.server.connection import ChargerGone
from envctl.charger.server.forwarding import Answer

if TYPE_CHECKING:
    from envctl.charger.server.app import CentralSystem


MAX_CALL_TIMEOUT_S = 600.0


def charger_routes(cs: CentralSystem, guarded: Callable[..., Any]) -> list[Route]:
    def respond(answer: Answer) -> Response:
        headers = {ANSWERED_BY: answer.replica_id} if answer.replica_id else None
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    async def not_here(request: Request, cid: str, method: str, body: dict[str, Any] | None, timeout: float) -> Answer:
        if request.headers.get(FORWARDED_BY):  # the forwarder looked it up already: answer for us only
            return await cs.forwarder.nowhere(cid, await cs.store_or_fail().owner(cid), not_here=True)
        return await cs.forwarder.elsewhere(cid, method, request.url.path, body, timeout)

    async def chargers(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            raise BadRequest("limit must be an integer") from None
        return JSONResponse({"count": len(cs.registry), "chargers": cs.registry.ids(max(0, limit))})

    def charger_id(request: Request) -> str:
        cid: str = request.path_params["charger_id"]
        wrong = identity.problem(cid)
        if wrong is not None:
            raise BadRequest(wrong)
        return cid

    def may_see_transactions(request: Request) -> bool:
        return admin_token.problem(cs.config.admin_token, request.headers.get("Authorization"),
                                   request.headers.get(admin_token.TOKEN_HEADER)) is None

    async def charger(request: Request) -> Response:
        cid = charger_id(request)
        answer = await charger_state(request, cid)
        if not may_see_transactions(request) and isinstance(answer.body, dict):
            _hide_transactions(answer.body)
            _hide_transactions(answer.body.get("stored"))
        return respond(answer)

    async def charger_state(request: Request, cid: str) -> Answer:
        conn = cs.registry.get(cid)
        if conn is None:
            answer = await not_here(request, cid, "GET", None, 10.0)
            if answer.status == 404 and isinstance(answer.body, dict) and not request.headers.get(FORWARDED_BY):
                answer.body["stored"] = _stringify(await cs.store_or_fail().charger_snapshot(cid))
            return answer
        state = cs.registry.state(cid)
        if state.needs_load:  # first look at this charger since it landed here: what the fleet knows
            state.loaded(await cs.store_or_fail().charger_snapshot(cid))
        claim = conn.claim
        return Answer(200, state.to_dict() | {
            "connected": True, "replica_id": cs.config.replica_id, "epoch": claim.epoch if claim else None,
            "connected_since": conn.connected_at,
        }, cs.config.replica_id)

    async def call(request: Request) -> Response:
        cid = charger_id(request)
        body = await json_object(request)
        action, payload = body.get("action"), body.get("payload", {})
        if not isinstance(action, str) or action not in CENTRAL_INITIATED:
            raise BadRequest(f"'action' must be one of {', '.join(sorted(CENTRAL_INITIATED))}")
        if not isinstance(payload, dict):
            raise BadRequest("'payload' must be a JSON object")
        timeout = number(body, "timeout_s", above=0, at_most=MAX_CALL_TIMEOUT_S) if "timeout_s" in body \
            else cs.config.call_timeout
        conn = cs.registry.get(cid)
        if conn is None:
            return respond(await not_here(request, cid, "POST", body, timeout))
        me = cs.config.replica_id
        try:
            answer = await conn.call(action, payload, timeout)
        except OcppError as exc:
            return respond(Answer(422, {"error": exc.description, "code": exc.code.value}, me))
        except CallErrorReceived as exc:
            return respond(Answer(502, {"error": "charger answered with a CALLERROR", "code": exc.code,
                                        "description": exc.description, "details": exc.details}, me))
        except CallTimeout as exc:
            return respond(Answer(504, {"error": str(exc)}, me))
        except ChargerGone as exc:
            return respond(Answer(404, {"error": str(exc), "charger_id": cid, "connected": False}, me))
        return respond(Answer(200, answer, me))

    return [
        Route("/admin/chargers", chargers),
        Route("/admin/chargers/{charger_id}", charger),
        Route("/admin/chargers/{charger_id}/call", guarded(cs, call), methods=["POST"]),
    ]


def _hide_transactions(state: Any) -> None:
    if isinstance(state, dict) and isinstance(state.get("open_transactions"), dict):
        state["open_transactions_count"] = len(state.pop("open_transactions"))
        state["transactions_hidden"] = "open transactions (with their idTags) need the admin token"


def _stringify(snapshot: dict[str, Any]) -> dict[str, Any]:
    """JSON object keys are strings: connector and transaction ids as text, as the live state has them."""
    return snapshot | {
        "connectors": {str(k): v for k, v in sorted(snapshot["connectors"].items())},
        "open_transactions": {str(k): v for k, v in sorted(snapshot["open_transactions"].items())},
    }
