"""The admin token: the mutating admin endpoints (drain, listen, disconnect, call) require it.

The token comes from ENVCTL_ADMIN_TOKEN (the Kubernetes templates inject it from the
environment's Secret; the local runtime generates one per environment). When none is configured
the endpoints stay open, as before. Replicas forwarding a charger's call to its owner send the
same token: one environment, one token. Compared in constant time.
"""

from __future__ import annotations

import hmac


def problem(expected: str | None, authorization: str | None) -> tuple[int, str] | None:
    """None when the request may proceed; else (HTTP status, what is wrong)."""
    if expected is None:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "this admin endpoint needs 'Authorization: Bearer <token>' (the environment's ENVCTL_ADMIN_TOKEN)"
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return 403, "the admin token is wrong"
    return None
