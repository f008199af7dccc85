"""The one client of a charger-server replica's admin API (admin.py, admin_chargers.py).

The API's paths, its headers and what its answers mean live here, beside the API, so the three
kinds of caller cannot drift apart:

    AdminClient (sync)
     ├── stats() / ready() / listen() / disconnect()   the release engine and `envctl fleet`, on one
     │                                                  replica: any failure is ReplicaUnreachable
     └── charger() / call()                             `envctl charger`, on an environment's admin
                                                        endpoint: answers mapped to the user's errors
    AsyncAdminClient
     └── forward()                                      a replica asking the replica that holds a
                                                        charger (forwarding.py)

The Kubernetes fleet reaches the same paths through the API server's pod proxy
(envctl/release/fleets/kubernetes.py), so only the paths are shared with it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from envctl.errors import ConfigError, EnvctlError, NotFound, Refused, Timeout

STATS = "/admin/stats"
LISTEN = "/admin/listen"
DISCONNECT = "/admin/disconnect"
READYZ = "/readyz"
FORWARDED_BY = "X-Envctl-Forwarded-By"  # set on a forwarded request: answer locally, never forward again
ANSWERED_BY = "X-Envctl-Replica"  # which replica's connection answered


def charger_path(charger_id: str) -> str:
    return f"/admin/chargers/{charger_id}"


def charger_call_path(charger_id: str) -> str:
    return f"/admin/chargers/{charger_id}/call"


class ReplicaUnreachable(EnvctlError):
    """A replica's admin API did not answer; the engine treats it as not ready."""


def payload_hint(action: str) -> str:
    """What the action's payload needs, from its OCPP 1.6 schema."""
    from envctl.charger.protocol.schemas import example_request  # loaded only when a call went wrong

    return f"{action} needs at least --payload '{json.dumps(example_request(action))}' (its OCPP 1.6 schema)"


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _json(resp: httpx.Response, keep: int) -> Any:
    """The answer's JSON; a body that is not JSON becomes {"error": its first `keep` characters}."""
    try:
        return resp.json()
    except ValueError:
        return {"error": resp.text[:keep]}


class AdminClient:
    """The admin API at `base_url`: one replica's, or an environment's endpoint (any replica).

    `token` is the environment's admin token (ENVCTL_ADMIN_TOKEN of the servers), sent as a bearer
    token; a replica requires it for drain, listen, disconnect and calls when it has one. `env` names
    the environment in the charger endpoints' errors. Without `http`, each request has its own
    connection (a CLI command makes one or two).
    """

    def __init__(self, base_url: str, token: str | None = None, *, http: httpx.Client | None = None,
                 env: str | None = None) -> None:
        self.url = base_url
        self.base = base_url.rstrip("/")
        self.http = http
        self.env = env
        self.headers = _bearer(token)

    def _send(self, method: str, path: str, body: dict[str, Any] | None, timeout_s: float | None = None,
              authorized: bool = True) -> httpx.Response:
        kwargs: dict[str, Any] = {"json": body, "headers": self.headers if authorized else {}}
        if timeout_s is not None:  # else the shared client's own timeout
            kwargs["timeout"] = timeout_s
        if self.http is not None:
            return self.http.request(method, self.base + path, **kwargs)
        return httpx.request(method, self.base + path, **kwargs)

    # -- one replica: the release engine's operations --------------------------------------------

    def _replica(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = self._send(method, path, body)
        except httpx.HTTPError as err:
            raise ReplicaUnreachable(f"{self.base}{path}: {err.__class__.__name__}: {err}") from err
        if resp.status_code >= 400:
            raise ReplicaUnreachable(f"{method} {self.base}{path} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json() if resp.content else {}

    def stats(self) -> dict[str, Any]:
        data = self._replica("GET", STATS)
        return data if isinstance(data, dict) else {}

    def ready(self) -> bool:
        try:
            return self._send("GET", READYZ, None, authorized=False).status_code == 200
        except httpx.HTTPError:
            return False

    def listen(self, accepting: bool) -> None:
        self._replica("POST", LISTEN, {"accepting": accepting})

    def disconnect(self, count: int) -> int:
        data = self._replica("POST", DISCONNECT, {"count": count})
        return int(data.get("closed", 0)) if isinstance(data, dict) else 0

    # -- an environment's chargers: `envctl charger` -----------------------------------------------

    def charger(self, charger_id: str, timeout_s: float = 20.0) -> Any:
        """The charger's state as the API answered it (whichever replica holds it)."""
        data, _ = self._charger_request("GET", charger_path(charger_id), None, timeout_s)
        return data

    def call(self, charger_id: str, action: str, payload: dict[str, Any], timeout_s: float) -> tuple[Any, str | None]:
        """The charger's answer to a central-initiated CALL, and the replica that carried it.

        The replica waits `timeout_s` for the charger; this client waits 10 s longer for the replica."""
        body = {"action": action, "payload": payload, "timeout_s": timeout_s}
        return self._charger_request("POST", charger_call_path(charger_id), body, timeout_s + 10, action)

    def _charger_request(self, method: str, path: str, body: dict[str, Any] | None, timeout_s: float,
                         action: str | None = None) -> tuple[Any, str | None]:
        env = self.env
        try:
            resp = self._send(method, path, body, timeout_s)
        except httpx.HTTPError as err:
            raise EnvctlError(f"the admin endpoint {self.url} of {env!r} did not answer: {err}",
                              f"see `envctl status {env}`") from None
        data = _json(resp, 300)
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
        return data, resp.headers.get(ANSWERED_BY)


class AsyncAdminClient:
    """A replica's client of the other replicas' admin APIs: forwarding a charger's request to its owner.

    Forwarded requests carry this replica's id in FORWARDED_BY, so the owner answers from its own
    connections only (no forwarding loops), and the environment's admin token.
    """

    def __init__(self, replica_id: str, token: str | None) -> None:
        self.headers = {FORWARDED_BY: replica_id} | _bearer(token)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))

    async def close(self) -> None:
        await self.http.aclose()

    async def forward(self, admin_url: str, method: str, path: str, body: dict[str, Any] | None,
                      timeout_s: float) -> tuple[int, Any, str | None]:
        """(status, body, the replica that answered if it said) of the request at `admin_url`.

        The owner waits `timeout_s` for its charger; we wait 5 s longer for the owner. A replica that
        does not answer is ReplicaUnreachable ("ErrorClass: what happened")."""
        try:
            resp = await self.http.request(method, admin_url.rstrip("/") + path, json=body,
                                           headers=self.headers, timeout=timeout_s + 5.0)
        except httpx.HTTPError as err:
            raise ReplicaUnreachable(f"{type(err).__name__}: {err}") from None
        return resp.status_code, _json(resp, 500), resp.headers.get(ANSWERED_BY)
