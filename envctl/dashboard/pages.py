"""The HTML pages: layouts only. The page scripts fill them from the event streams, so what a
page shows and what the API answers can never disagree."""

from __future__ import annotations

import importlib.util
from urllib.parse import parse_qs

import anyio
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from envctl.dashboard import auth
from envctl.dashboard.state import DashboardState
from envctl.errors import NotFound

templates = Environment(loader=PackageLoader("envctl.dashboard", "templates"), autoescape=select_autoescape())


def _render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    state = DashboardState.of(request)
    html = templates.get_template(name).render(
        root=request.scope.get("root_path", "").rstrip("/"),
        actions_enabled=state.settings.actions_enabled,
        exposed=state.settings.exposed,
        page=name.removesuffix(".html"),
        **context,
    )
    return HTMLResponse(html, status_code=status)


async def environments_page(request: Request) -> Response:
    return _render(request, "environments.html")


async def releases_page(request: Request) -> Response:
    return _render(request, "releases.html")


async def release_page(request: Request) -> Response:
    plan_id = request.path_params["plan_id"]
    try:  # a page for a release that does not exist would wait forever, with an Abort button
        await anyio.to_thread.run_sync(DashboardState.of(request).catalog.find, plan_id)
    except NotFound as err:
        return _render(request, "not_found.html", status=404, message=err.message, hint=err.hint or "")
    return _render(request, "release.html", plan_id=plan_id)


def terraform_available() -> bool:
    return importlib.util.find_spec("envctl.terraform") is not None


async def terraform_page(request: Request) -> Response:
    return _render(request, "terraform.html", terraform_available=terraform_available())


async def login_page(request: Request) -> Response:
    return _render(request, "login.html")


async def login(request: Request) -> Response:
    state = DashboardState.of(request)
    # a one-field urlencoded form: the standard library reads it (Starlette's form parser needs python-multipart)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    cookie = auth.session_cookie(state.settings, (form.get("token") or [""])[0])
    if cookie is None:
        return _render(request, "login.html", status=403, error="that token is not valid for this dashboard")
    root = request.scope.get("root_path", "").rstrip("/")
    resp = RedirectResponse(f"{root}/", status_code=303)
    resp.set_cookie(auth.SESSION_COOKIE, cookie, httponly=True, samesite="strict", path=f"{root}/" or "/")
    return resp
