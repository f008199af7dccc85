"""A charger of an environment, from a shell: its state, and central-initiated calls to it.

The environment's admin endpoint (the one `envctl status` prints) answers for every charger of
the environment, whichever replica holds it (the replicas forward to the owner), so one URL and
the environment's admin token are all a client needs. The runtime says where they are.
"""

from __future__ import annotations

import math
from typing import Any

from envctl.charger.protocol import identity
from envctl.charger.protocol.errors import OcppError
from envctl.charger.protocol.schemas import CENTRAL_INITIATED, validate_request
from envctl.charger.server.admin_client import AdminClient, payload_hint
from envctl.envs.model import validate_name
from envctl.envs.service import get_runtime
from envctl.errors import ConfigError, EnvctlError

__all__ = ["call", "payload_hint", "show"]


def _client(env: str, runtime: str | None) -> AdminClient:
    """The environment's admin endpoint and token, as its runtime says."""
    validate_name(env)
    chosen = get_runtime(runtime)
    if not hasattr(chosen, "admin_access"):
        raise ConfigError(
            f"`envctl charger` is not available on the {chosen.name} runtime yet",
            "use a local environment, or the admin endpoint from `envctl status` with the environment's token",
        )
    url, token = chosen.admin_access(env)
    return AdminClient(url, token, env=env)


def _charger_id(charger_id: str) -> str:
    wrong = identity.problem(charger_id)
    if wrong is not None:
        raise ConfigError(wrong, "the charger ids of an environment are listed by GET /admin/chargers, e.g. CP000001")
    return charger_id


def call(env: str, charger_id: str, action: str, payload: dict[str, Any], *, runtime: str | None = None,
         timeout_s: float = 30.0) -> tuple[Any, str | None]:
    """The charger's answer payload to a central-initiated CALL, and the replica that carried it."""
    _charger_id(charger_id)
    if action not in CENTRAL_INITIATED:
        raise ConfigError(f"{action!r} is not an OCPP 1.6 action the central system sends a charger",
                          f"one of: {', '.join(sorted(CENTRAL_INITIATED))}")
    if not isinstance(payload, dict):
        raise ConfigError("--payload must be a JSON object", payload_hint(action))
    try:
        validate_request(action, payload)
    except OcppError as exc:
        raise ConfigError(f"--payload is not a valid {action}: {exc.description}", payload_hint(action)) from None
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError(f"--timeout {timeout_s} must be a positive number of seconds")
    return _client(env, runtime).call(charger_id, action, payload, timeout_s)


def show(env: str, charger_id: str, *, runtime: str | None = None) -> dict[str, Any]:
    _charger_id(charger_id)
    data = _client(env, runtime).charger(charger_id)
    if not isinstance(data, dict) or "charger_id" not in data:
        raise EnvctlError(f"the admin API's answer for charger {charger_id!r} is not a charger's state: {str(data)[:200]}",
                          f"see `envctl status {env}`")
    return data
