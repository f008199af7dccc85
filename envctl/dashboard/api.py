"""The JSON and event-stream routes (DESIGN.md's contract): thin doors onto catalog, feed, actions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from envctl.dashboard import actions, auth
from envctl.dashboard.catalog import environment_history, environments
from envctl.dashboard.state import DashboardState
from envctl.errors import ConfigError
from envctl.release import service as releases

PING_S = 15


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, default=str), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ConfigError(f"the request body is not JSON: {err}", 'send e.g. {"by": "4h"}') from err
    if not isinstance(data, dict):
        raise ConfigError("the request body must be a JSON object", 'send e.g. {"by": "4h"}')
    return data


def _events(source: AsyncIterator[tuple[str, dict[str, Any]]]) -> EventSourceResponse:
    async def stream() -> AsyncIterator[dict[str, str]]:
        async for event, data in source:
            yield {"event": event, "data": orjson.dumps(data, default=str).decode()}

    # no-transform keeps proxies from buffering the stream into uselessness
    return EventSourceResponse(stream(), ping=PING_S, headers={"Cache-Control": "no-cache, no-transform"})


# -- reading ----------------------------------------------------------------------------------------


async def list_environments(request: Request) -> Response:
    listing = await anyio.to_thread.run_sync(environments)
    return _json(listing.items)


async def environment_events(request: Request) -> Response:
    return _events(DashboardState.of(request).hub.environment_events())


async def history(request: Request) -> Response:
    return _json(await anyio.to_thread.run_sync(environment_history, request.path_params["name"]))


async def list_releases(request: Request) -> Response:
    listing = await anyio.to_thread.run_sync(DashboardState.of(request).catalog.releases)
    return _json({"releases": listing.items, "notes": listing.notes})


async def release_list_events(request: Request) -> Response:
    return _events(DashboardState.of(request).hub.release_list_events())


async def release_status(request: Request) -> Response:
    catalog = DashboardState.of(request).catalog

    def read() -> dict[str, Any]:
        ctx, plan = catalog.find(request.path_params["plan_id"])
        return releases.status(ctx, plan.id) | {"plan": plan.to_dict()}

    return _json(await anyio.to_thread.run_sync(read))


async def release_timeline(request: Request) -> Response:
    feed = await DashboardState.of(request).hub.feed(request.path_params["plan_id"])
    return _json(feed.snapshot())


async def release_events(request: Request) -> Response:
    hub = DashboardState.of(request).hub
    await hub.feed(request.path_params["plan_id"])  # NotFound as a 404 before the stream starts
    return _events(hub.release_events(request.path_params["plan_id"]))


# -- acting (bearer token) --------------------------------------------------------------------------


async def abort_release(request: Request) -> Response:
    state = DashboardState.of(request)
    who = auth.actor(request, state.settings)
    body = await _body(request)
    reason = str(body.get("reason") or "aborted from the dashboard")
    result = await anyio.to_thread.run_sync(actions.abort, state.catalog, request.path_params["plan_id"], who, reason)
    return _json(result, status=202)


async def extend_environment(request: Request) -> Response:
    state = DashboardState.of(request)
    who = auth.actor(request, state.settings)
    body = await _body(request)
    by = body.get("by")
    if not isinstance(by, str):
        raise ConfigError('say how much longer: {"by": "4h"}', "durations look like 30m, 4h, 1d")
    result = await anyio.to_thread.run_sync(actions.extend, request.path_params["name"], by, who, body.get("runtime"))
    return _json(result)


async def down_environment(request: Request) -> Response:
    state = DashboardState.of(request)
    who = auth.actor(request, state.settings)
    body = await _body(request)
    result = await anyio.to_thread.run_sync(actions.down, state.catalog, request.path_params["name"], who, body.get("runtime"))
    return _json(result)


async def terraform_overview(request: Request) -> Response:
    from envctl.dashboard.terraform import overview

    return _json(await anyio.to_thread.run_sync(overview, DashboardState.of(request).settings.terraform_root))


async def healthz(_request: Request) -> Response:
    return JSONResponse({"ok": True})
