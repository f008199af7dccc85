"""The admin HTTP API (starlette), served by uvicorn inside the OCPP server's own event loop.

    GET  /healthz                       200 while the process runs
    GET  /readyz                        200 when accepting new chargers; 503 while draining/not accepting
    GET  /metrics                       Prometheus text
    GET  /admin/stats                   connections, draining, accepting, version, counters, drain progress
    POST /admin/drain                   {"rate_per_s": float > 0} -> 202 {"drain": progress}
    POST /admin/listen                  {"accepting": bool} -> {"accepting": bool}
    POST /admin/disconnect              {"count": int >= 0} -> {"closed", "remaining"}
    GET  /admin/chargers                ?limit=N (default 1000) -> {"count", "chargers": [ids, oldest first]}
    GET  /admin/chargers/{id}           the charger's in-memory state (404 if never seen)
    POST /admin/chargers/{id}/call      {"action", "payload", "timeout_s"?} -> the charger's answer payload;
                                        404 not connected, 422 invalid request, 502 CALLERROR, 504 timeout
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, OcppError
from envctl.charger.protocol.schemas import CENTRAL_INITIATED
from envctl.charger.server.connection import ChargerGone

if TYPE_CHECKING:
    from envctl.charger.server.app import CentralSystem


class BadRequest(Exception):
    pass


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("request body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{key!r} must be a number")
    return float(value)


def build_admin_app(cs: CentralSystem) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": cs.config.version, "replica_id": cs.config.replica_id})

    async def readyz(request: Request) -> Response:
        reason = cs.not_ready_reason()
        if reason is None:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(cs.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def stats(request: Request) -> Response:
        return JSONResponse(cs.stats())

    async def drain(request: Request) -> Response:
        body = await _json_object(request)
        rate = _number(body, "rate_per_s")
        if rate <= 0:
            raise BadRequest("'rate_per_s' must be > 0")
        progress = cs.drain(rate)
        return JSONResponse({"drain": progress.to_dict()}, status_code=202)

    async def listen(request: Request) -> Response:
        body = await _json_object(request)
        accepting = body.get("accepting")
        if not isinstance(accepting, bool):
            raise BadRequest("'accepting' must be true or false")
        if accepting and cs.drainer.draining:
            return JSONResponse({"error": "draining: this replica will not accept new chargers again"}, status_code=409)
        await cs.set_accepting(accepting)
        return JSONResponse({"accepting": cs.listener.accepting})

    async def disconnect(request: Request) -> Response:
        body = await _json_object(request)
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadRequest("'count' must be an integer >= 0")
        closed = cs.drainer.close_now(count)
        return JSONResponse({"closed": closed, "remaining": len(cs.registry)})

    async def chargers(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "1000"))
        except ValueError:
            raise BadRequest("limit must be an integer") from None
        return JSONResponse({"count": len(cs.registry), "chargers": cs.registry.ids(max(0, limit))})

    async def charger(request: Request) -> Response:
        cid = request.path_params["charger_id"]
        conn = cs.registry.get(cid)
        if conn is None and not cs.registry.seen(cid):
            return JSONResponse({"error": f"charger {cid!r} has not connected to this server"}, status_code=404)
        state = cs.registry.state(cid).to_dict()
        return JSONResponse(state | {"connected": conn is not None})

    async def call(request: Request) -> Response:
        cid = request.path_params["charger_id"]
        body = await _json_object(request)
        action, payload = body.get("action"), body.get("payload", {})
        if not isinstance(action, str) or action not in CENTRAL_INITIATED:
            raise BadRequest(f"'action' must be one of {', '.join(sorted(CENTRAL_INITIATED))}")
        if not isinstance(payload, dict):
            raise BadRequest("'payload' must be a JSON object")
        timeout = _number(body, "timeout_s") if "timeout_s" in body else cs.config.call_timeout
        conn = cs.registry.get(cid)
        if conn is None:
            return JSONResponse({"error": f"charger {cid!r} is not connected to this server"}, status_code=404)
        try:
            answer = await conn.call(action, payload, timeout)
        except OcppError as exc:
            return JSONResponse({"error": exc.description, "code": exc.code.value}, status_code=422)
        except CallErrorReceived as exc:
            return JSONResponse(
                {"error": "charger answered with a CALLERROR", "code": exc.code, "description": exc.description,
                 "details": exc.details},
                status_code=502,
            )
        except CallTimeout as exc:
            return JSONResponse({"error": str(exc)}, status_code=504)
        except ChargerGone as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(answer)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/admin/stats", stats),
            Route("/admin/drain", drain, methods=["POST"]),
            Route("/admin/listen", listen, methods=["POST"]),
            Route("/admin/disconnect", disconnect, methods=["POST"]),
            Route("/admin/chargers", chargers),
            Route("/admin/chargers/{charger_id}", charger),
            Route("/admin/chargers/{charger_id}/call", call, methods=["POST"]),
        ],
        exception_handlers={BadRequest: bad_request},
    )
