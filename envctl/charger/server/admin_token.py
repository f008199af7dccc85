"""The admin token: the mutating admin endpoints (drain, listen, disconnect, call) require it.

The token comes from ENVCTL_ADMIN_TOKEN (the Kubernetes templates inject it from the
environment's Secret; the local runtime generates one per environment). When none is configured
the endpoints stay open, as before. Replicas forwarding a charger's call to its owner send the
same token: one environment, one token. Compared in constant time.

The token may also come in `X-Envctl-Admin-Token`: the Kubernetes API server's pod proxy (how
envctl reaches a pod's admin API from outside the cluster) drops the Authorization header.
"""

from __future__ import annotations

import hmac


TOKEN_HEADER = "X-Envctl-Admin-Token"


def problem(expected: str | None, authorization: str | None, token_header: str | None = None) -> tuple[int, str] | None:
    """None when the request may proceed; else (HTTP status, what is wrong)."""
    if expected is None:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if token_header and not (scheme.lower() == "bearer" and token.strip()):
        scheme, token = "bearer", token_header
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "this admin endpoint needs 'Authorization: Bearer <token>' (the environment's ENVCTL_ADMIN_TOKEN)"
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return 403, "the admin token is wrong"
    return None
