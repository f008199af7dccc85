"""A charger of an environment, from a shell: its state, and central-initiated calls to it.

The environment's admin endpoint (the one `envctl status` prints) answers for every charger of
the environment, whichever replica holds it (the replicas forward to the owner), so one URL and
the environment's admin token are all a client needs. The runtime says where they are.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

import httpx

from envctl.charger.protocol import identity
from envctl.charger.protocol.errors import OcppError
from envctl.charger.protocol.schemas import CENTRAL_INITIATED, example_request, validate_request
from envctl.envs.model import validate_name
from envctl.envs.service import get_runtime
from envctl.errors import ConfigError, EnvctlError, NotFound, Refused, Timeout


class AdminAccess(Protocol):
    def admin_access(self, name: str) -> tuple[str, str | None]: ...


def _access(env: str, runtime: str | None) -> tuple[str, str | None]:
    validate_name(env)
    chosen = get_runtime(runtime)
    if not hasattr(chosen, "admin_access"):
        raise ConfigError(
            f"`envctl charger` is not available on the {chosen.name} runtime yet",
            "use a local environment, or the admin endpoint from `envctl status` with the environment's token",
        )
    return chosen.admin_access(env)  # type: ignore[no-any-return]


def _charger_id(charger_id: str) -> str:
    wrong = identity.problem(charger_id)
    if wrong is not None:
        raise ConfigError(wrong, "the charger ids of an environment are listed by GET /admin/chargers, e.g. CP000001")
    return charger_id


def payload_hint(action: str) -> str:
    """What the action's payload needs, from its OCPP 1.6 schema."""
    return f"{action} needs at least --payload '{json.dumps(example_request(action))}' (its OCPP 1.6 schema)"


def _request(env: str, runtime: str | None, method: str, path: str, body: dict[str, Any] | None,
             timeout_s: float, action: str | None = None) -> tuple[Any, str | None]:
    url, token = _access(env, runtime)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.request(method, url.rstrip("/") + path, json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as err:
        raise EnvctlError(f"the admin endpoint {url} of {env!r} did not answer: {err}",
                          f"see `envctl status {env}`") from None
    try:
        data = resp.json()
    except ValueError:
        data = {"error": resp.text[:300]}
    error = data.get("error") if isinstance(data, dict) else None
    status = resp.status_code
    if status == 404:
        raise NotFound(str(error or "not found"), f"see `envctl status {env}`: is the simulator running?")
    if status in (401, 403):
        raise Refused(f"the admin API refused the request: {error}", "the environment's admin token did not match")
    if status == 422:
        raise ConfigError(f"the charger-server refused the request: {error}",
                          payload_hint(action) if action else "check the charger id")
    if status == 502:
        raise EnvctlError(f"the charger answered with a CALLERROR {data.get('code')}: {data.get('description')}")
    if status == 504:
        raise Timeout(str(error or "the charger did not answer in time"))
    if not 200 <= status < 300:  # a redirect or an error this client does not know: never an answer
        raise EnvctlError(f"the admin API answered {status}: {error or data or resp.reason_phrase}",
                          f"see `envctl status {env}`")
    return data, resp.headers.get("X-Envctl-Replica")


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
    body = {"action": action, "payload": payload, "timeout_s": timeout_s}
    return _request(env, runtime, "POST", f"/admin/chargers/{charger_id}/call", body, timeout_s + 10, action)


def show(env: str, charger_id: str, *, runtime: str | None = None) -> dict[str, Any]:
    _charger_id(charger_id)
    data, _ = _request(env, runtime, "GET", f"/admin/chargers/{charger_id}", None, 20.0)
    if not isinstance(data, dict) or "charger_id" not in data:
        raise EnvctlError(f"the admin API's answer for charger {charger_id!r} is not a charger's state: {str(data)[:200]}",
                          f"see `envctl status {env}`")
    return data
