"""The edge's admin HTTP API (starlette in the edge's own loop), with the server's conventions.

    GET    /healthz                 200 while the process runs
    GET    /readyz                  200 when taking chargers; 503 while draining or with no healthy backend
    GET    /metrics                 Prometheus text (bounded label sets: metrics.py)
    GET    /admin/stats             connections per backend, moves per second (exact), jobs, held frames
    POST   /admin/move              {"count": N, "from": [ids], "to": [ids]} -> 202 {"job": ...}
    POST   /admin/backends          {"id", "url", "version"} -> 201 {"backend": ...}
    DELETE /admin/backends/{id}     move its chargers to the others at the budget, then forget it -> 202
    POST   /admin/budget            {"budget_per_s": float > 0, "processes": int >= 1 (optional)}
    POST   /admin/drain             {"rate_per_s": float > 0}: stop taking chargers, close ours with 1012 at the pace

Every mutating route requires `Authorization: Bearer $ENVCTL_ADMIN_TOKEN` when a token is
configured (401 without, 403 with a wrong one; compared in constant time: admin_token.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from envctl.charger.server import admin_token
from envctl.charger.server.admin_errors import BadRequest, json_object, number
from envctl.edge.backends import make_backend
from envctl.edge.metrics import render
from envctl.errors import ConfigError

if TYPE_CHECKING:
    from envctl.edge.app import Edge

Endpoint = Callable[[Request], Awaitable[Response]]


def _ids(body: dict[str, Any], key: str, edge: Edge) -> set[str]:
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key!r} must be a non-empty list of backend ids")
    unknown = sorted(set(value) - set(edge.pool.backends))
    if unknown:
        raise BadRequest(f"{key!r} names backends this edge does not have: {', '.join(unknown)}")
    return set(value)


def build_admin_app(edge: Edge) -> Starlette:
    def guarded(endpoint: Endpoint) -> Endpoint:
        async def checked(request: Request) -> Response:
            refused = admin_token.problem(edge.config.admin_token, request.headers.get("Authorization"),
                                          request.headers.get(admin_token.TOKEN_HEADER))
            if refused is not None:
                return JSONResponse({"error": refused[1]}, status_code=refused[0])
            return await endpoint(request)
        return checked

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "edge_id": edge.config.edge_id})

    async def readyz(request: Request) -> Response:
        reason = edge.not_ready_reason()
        if reason is None:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(render(edge), media_type=CONTENT_TYPE_LATEST)

    async def stats(request: Request) -> Response:
        return JSONResponse(edge.stats())

    async def move(request: Request) -> Response:
        body = await json_object(request)
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadRequest("'count' must be an integer >= 0")
        job = edge.move(count, _ids(body, "from", edge), _ids(body, "to", edge))
        return JSONResponse({"job": job.to_dict()}, status_code=202)

    async def add_backend(request: Request) -> Response:
        body = await json_object(request)
        ident, url, version = body.get("id"), body.get("url"), body.get("version", "unknown")
        if not all(isinstance(v, str) for v in (ident, url, version)):
            raise BadRequest("'id' and 'url' (and 'version' if given) must be strings")
        try:
            backend = make_backend(ident, url, version)  # type: ignore[arg-type]
            edge.pool.add(backend)
        except ConfigError as exc:
            status = 409 if "already" in exc.message else 422
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)
        return JSONResponse({"backend": backend.to_dict()}, status_code=201)

    async def remove_backend(request: Request) -> Response:
        ident = request.path_params["backend_id"]
        if edge.pool.get(ident) is None:
            return JSONResponse({"error": f"no backend {ident!r} at this edge"}, status_code=404)
        job = edge.remove_backend(ident)
        return JSONResponse({"job": job.to_dict()}, status_code=202)

    async def budget(request: Request) -> Response:
        body = await json_object(request)
        rate = number(body, "budget_per_s")
        processes = body.get("processes", edge.pacer.processes)
        if rate <= 0:
            raise BadRequest("'budget_per_s' must be > 0")
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise BadRequest("'processes' must be an integer >= 1")
        edge.pacer.set(rate, processes)
        return JSONResponse({"budget_per_s": edge.pacer.budget_per_s, "processes": edge.pacer.processes,
                             "rate_per_s": edge.pacer.rate})

    async def drain(request: Request) -> Response:
        body = await json_object(request)
        rate = number(body, "rate_per_s")
        if rate <= 0:
            raise BadRequest("'rate_per_s' must be > 0")
        edge.drain(rate)
        return JSONResponse({"draining": True, "connections": len(edge.sessions)}, status_code=202)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/admin/stats", stats),
            Route("/admin/move", guarded(move), methods=["POST"]),
            Route("/admin/backends", guarded(add_backend), methods=["POST"]),
            Route("/admin/backends/{backend_id}", guarded(remove_backend), methods=["DELETE"]),
            Route("/admin/budget", guarded(budget), methods=["POST"]),
            Route("/admin/drain", guarded(drain), methods=["POST"]),
        ],
        exception_handlers={BadRequest: bad_request},
    )
