"""Who may act on the dashboard, and who they are.

Actions (abort, extend, down) need `Authorization: Bearer TOKEN`: no or malformed header is 401,
a token the dashboard does not know is 403 (DESIGN.md's contract). The header, never a cookie,
so another site cannot make a signed-in browser act (no CSRF). Who acted is the holder the
dashboard's own token list names, never something the caller says about itself.

When exposed beyond loopback, reading needs a token too: pages by a signed session cookie set
at /login (EventSource cannot send headers), the JSON API by the same bearer header.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from envctl.dashboard.settings import DashboardSettings

SESSION_COOKIE = "envctl_dashboard_session"


class AuthError(Exception):
    def __init__(self, status: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def _holder(settings: DashboardSettings, presented: str) -> str | None:
    found = None
    for token, holder in settings.tokens.items():  # compare with every token: no early exit to time
        if hmac.compare_digest(token.encode(), presented.encode()):
            found = holder
    return found


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def actor(request: Request, settings: DashboardSettings) -> str:
    """The holder of the request's bearer token, or AuthError (401 none, 403 unknown)."""
    presented = bearer(request)
    if presented is None:
        raise AuthError(401, "this action needs the dashboard token", "send `Authorization: Bearer $ENVCTL_DASHBOARD_TOKEN`")
    if not settings.actions_enabled:
        raise AuthError(403, "actions are disabled: the dashboard was started without a token",
                        "restart it with ENVCTL_DASHBOARD_TOKEN set")  # fmt: skip
    holder = _holder(settings, presented)
    if holder is None:
        raise AuthError(403, "the token is not valid for this dashboard", "check ENVCTL_DASHBOARD_TOKEN")
    client = request.client.host if request.client else "unknown address"
    return f"{holder} (dashboard, from {client})"


def _sign(token: str, holder: str) -> str:
    return hmac.new(token.encode(), b"envctl-dashboard-session:" + holder.encode(), hashlib.sha256).hexdigest()


def session_cookie(settings: DashboardSettings, presented: str) -> str | None:
    """The cookie value for a correct token: the holder and a MAC keyed by the token, not the token."""
    holder = _holder(settings, presented)
    if holder is None:
        return None
    return f"{holder.replace(' ', '_')}.{_sign(presented, holder)}"


def may_read(request: Request, settings: DashboardSettings) -> bool:
    if not settings.exposed:
        return True
    presented = bearer(request)
    if presented is not None:
        return _holder(settings, presented) is not None
    cookie = request.cookies.get(SESSION_COOKIE, "")
    name, _, mac = cookie.partition(".")
    for token, holder in settings.tokens.items():
        if holder.replace(" ", "_") == name and hmac.compare_digest(_sign(token, holder), mac):
            return True
    return False
