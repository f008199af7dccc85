"""The dashboard as an ASGI app: `envctl dashboard` serves it, `envctl webhook serve` can mount it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from envctl.dashboard import api, auth, pages
from envctl.dashboard.settings import DashboardSettings
from envctl.dashboard.state import DashboardState
from envctl.errors import ConfigError, EnvctlError, NotFound, Refused, Timeout

STATIC = Path(__file__).parent / "static"
Endpoint = Callable[[Request], Awaitable[Response]]

STATUS = {ConfigError: 400, NotFound: 404, Refused: 409, Timeout: 504}


def _status_of(err: EnvctlError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(err, kind)), 500)


def _guarded(endpoint: Endpoint, *, page: bool) -> Endpoint:
    """Reading needs a token only when exposed beyond loopback; pages send people to sign in."""

    async def guarded(request: Request) -> Response:
        state = DashboardState.of(request)
        if not auth.may_read(request, state.settings):
            if page:
                return RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/login", status_code=303)
            return JSONResponse(
                {"error": "unauthorized", "message": "this dashboard is exposed beyond loopback: reading needs the token",
                 "hint": "send `Authorization: Bearer $ENVCTL_DASHBOARD_TOKEN`, or sign in at /login"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        try:
            return await endpoint(request)
        except auth.AuthError as err:
            headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
            return JSONResponse({"error": "unauthorized" if err.status == 401 else "forbidden",
                                 "message": err.message, "hint": err.hint}, status_code=err.status, headers=headers)  # fmt: skip
        except EnvctlError as err:
            return JSONResponse(err.to_dict(), status_code=_status_of(err))

    return guarded


def routes() -> list[BaseRoute]:
    def page(path: str, endpoint: Endpoint) -> Route:
        return Route(path, _guarded(endpoint, page=True), methods=["GET"])

    def read(path: str, endpoint: Endpoint) -> Route:
        return Route(path, _guarded(endpoint, page=False), methods=["GET"])

    def act(path: str, endpoint: Endpoint) -> Route:
        return Route(path, _guarded(endpoint, page=False), methods=["POST"])

    return [
        page("/", pages.environments_page),
        page("/releases", pages.releases_page),
        page("/releases/{plan_id}", pages.release_page),
        page("/terraform", pages.terraform_page),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        read("/api/environments", api.list_environments),
        read("/api/environments/events", api.environment_events),
        read("/api/environments/{name}/history", api.history),
        act("/api/environments/{name}/down", api.down_environment),
        act("/api/environments/{name}/extend", api.extend_environment),
        read("/api/releases", api.list_releases),
        read("/api/releases/events", api.release_list_events),
        read("/api/releases/{plan_id}", api.release_status),
        read("/api/releases/{plan_id}/timeline", api.release_timeline),
        read("/api/releases/{plan_id}/events", api.release_events),
        act("/api/releases/{plan_id}/abort", api.abort_release),
        read("/api/terraform", api.terraform_overview),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


async def _not_found(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"error": "not_found" if code == 404 else "error", "message": f"{request.url.path}: {exc}",
                         "hint": "the pages are /, /releases, /releases/ID and /terraform"}, status_code=code)  # fmt: skip


def create_app(settings: DashboardSettings) -> Starlette:
    state = DashboardState(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.hub.ensure_running()  # sample running releases from the start, watched or not
        yield
        await state.hub.stop()

    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers={404: _not_found, 405: _not_found})
    app.state.dashboard = state
    return app


def mount_into(parent: Starlette, settings: DashboardSettings, path: str = "/dashboard") -> Starlette:
    """Serve the dashboard under `path` of another app (`envctl webhook serve --dashboard`).

    Starlette runs only the outer app's lifespan, so the dashboard's is chained into it: the feed
    samples running releases from start-up, as it does when served on its own."""
    child = create_app(settings)
    parent.router.routes.append(Mount(path, app=child))
    outer = parent.router.lifespan_context

    @asynccontextmanager
    async def chained(app: Starlette) -> AsyncIterator[object]:
        async with outer(app) as state, child.router.lifespan_context(child):
            yield state

    parent.router.lifespan_context = chained
    return child
