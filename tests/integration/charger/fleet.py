"""A fleet of real `envctl server` processes sharing one database, each on its own OCPP port.

Separate ports (not SO_REUSEPORT) so a test decides which replica a charger lands on, the way a
load balancer or a reconnect would. Every replica gets the same admin token, as the local
runtime and the Kubernetes templates give them.

`accepting(ws)` makes a test charger answer the central system's CALLs (Accepted), so a call
through the admin API is answered by the charger itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection

from tests.integration.charger.conftest import ServerProcess, answering, result

TOKEN = "test-admin-token-0123456789abcdef"
_ids = itertools.count(1)


class Fleet:
    def __init__(self, replicas: list[ServerProcess], database_url: str) -> None:
        self.replicas = replicas
        self.database_url = database_url

    def __getitem__(self, i: int) -> ServerProcess:
        return self.replicas[i]

    def admin(self, i: int, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, self.replicas[i].admin_url + path, headers=headers, timeout=20, **kwargs)

    async def aadmin(self, i: int, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
        return await asyncio.to_thread(self.admin, i, method, path, token, **kwargs)

    def stats(self, i: int) -> dict[str, Any]:
        return self.admin(i, "GET", "/admin/stats").json()  # type: ignore[no-any-return]


@contextlib.contextmanager
def fleet(tmp_path: Path, n: int, database_url: str, *args: str) -> Iterator[Fleet]:
    started: list[ServerProcess] = []
    try:
        for i in range(n):
            started.append(ServerProcess.start(
                tmp_path, "--replica-id", f"r{i + 1}", "--database-url", database_url, *args,
                env={"ENVCTL_ADMIN_TOKEN": TOKEN},
            ))  # fmt: skip
        yield Fleet(started, database_url)
    finally:
        for sp in started:
            sp.kill()


def accepting(ws: ClientConnection) -> contextlib.AbstractAsyncContextManager[list[list[Any]]]:
    """The charger answers every CALL from the server with {"status": "Accepted"}."""
    return answering(ws, result({"status": "Accepted"}))


def start_payload(n: int, connector: int = 1) -> dict[str, Any]:
    at = datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(seconds=n)
    return {"connectorId": connector, "idTag": "TAG", "meterStart": n, "timestamp": at.isoformat().replace("+00:00", "Z")}


async def send(ws: ClientConnection, action: str, payload: dict[str, Any]) -> str:
    unique_id = f"f{next(_ids)}"
    await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
    return unique_id
