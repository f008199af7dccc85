"""The admin HTTP API (starlette), served by uvicorn inside the OCPP server's own event loop.

    GET  /healthz                       200 while the process runs
    GET  /readyz                        200 when accepting new chargers; 503 while draining/not accepting
    GET  /metrics                       Prometheus text
    GET  /admin/stats                   connections, draining, accepting, version, counters, drain progress
    POST /admin/drain                   {"rate_per_s": float > 0} -> 202 {"drain": progress}
    POST /admin/listen                  {"accepting": bool} -> {"accepting": bool}
    POST /admin/disconnect              {"count": int >= 0} -> {"closed", "remaining"}
    GET  /admin/chargers                ?limit=N (default 1000) -> {"count", "chargers": [ids, oldest first]}
    GET  /admin/chargers/{id}           the charger's state, fleet-wide (admin_chargers.py)
    POST /admin/chargers/{id}/call      a central-initiated CALL, fleet-wide (admin_chargers.py)

The POST endpoints require `Authorization: Bearer $ENVCTL_ADMIN_TOKEN` when a token is configured
(401 without, 403 with a wrong one); reads stay open for probes and dashboards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from envctl.charger.server import admin_token
from envctl.charger.server.admin_chargers import charger_routes
from envctl.charger.server.admin_errors import BadRequest, json_object, number

if TYPE_CHECKING:
    from envctl.charger.server.app import CentralSystem

MAX_DRAIN_RATE = 1_000_000.0  # closes per second; anything above is "all at once"

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(cs: CentralSystem, endpoint: Endpoint) -> Endpoint:
    """The endpoint, behind the admin token when one is configured."""

    async def checked(request: Request) -> Response:
        refused = admin_token.problem(cs.config.admin_token, request.headers.get("Authorization"),
                                      request.headers.get(admin_token.TOKEN_HEADER))
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        return await endpoint(request)

    return checked


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
        body = await json_object(request)
        rate = number(body, "rate_per_s", above=0, at_most=MAX_DRAIN_RATE)
        progress = cs.drain(rate)
        return JSONResponse({"drain": progress.to_dict()}, status_code=202)

    async def listen(request: Request) -> Response:
        body = await json_object(request)
        accepting = body.get("accepting")
        if not isinstance(accepting, bool):
            raise BadRequest("'accepting' must be true or false")
        if accepting and cs.drainer.draining:
            return JSONResponse({"error": "draining: this replica will not accept new chargers again"}, status_code=409)
        await cs.set_accepting(accepting)
        return JSONResponse({"accepting": cs.listener.accepting})

    async def disconnect(request: Request) -> Response:
        body = await json_object(request)
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadRequest("'count' must be an integer >= 0")
        closed = cs.drainer.close_now(count)
        return JSONResponse({"closed": closed, "remaining": len(cs.registry)})

    async def bad_request(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/admin/stats", stats),
            Route("/admin/drain", guarded(cs, drain), methods=["POST"]),
            Route("/admin/listen", guarded(cs, listen), methods=["POST"]),
            Route("/admin/disconnect", guarded(cs, disconnect), methods=["POST"]),
            *charger_routes(cs, guarded),
        ],
        exception_handlers={BadRequest: bad_request},
    )
