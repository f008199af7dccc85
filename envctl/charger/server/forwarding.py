"""Answering for the whole fleet: a charger's admin request goes to the replica that holds it.

Any replica's admin API answers `GET /admin/chargers/{id}` and `POST /admin/chargers/{id}/call`
for every charger of the environment. When the charger is not connected here, the store says who
holds it (`charger_owners` + `replicas.admin_url`) and the request is forwarded there, with the
environment's admin token, and marked as forwarded so the owner answers from its own connections
only (no forwarding loops). If the charger moved while the request was on its way, the owner
answers "not here" and the lookup is repeated (a few hops at most).

404 means the charger is connected nowhere: the answer says where and when it was last seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envctl.charger.server.admin_client import AsyncAdminClient, ReplicaUnreachable
from envctl.charger.store import Store

MAX_HOPS = 3


@dataclass
class Answer:
    status: int
    body: Any
    replica_id: str | None = None


class Forwarder:
    def __init__(self, replica_id: str, store: Store, token: str | None) -> None:
        self.replica_id = replica_id
        self.store = store
        self.client = AsyncAdminClient(replica_id, token)
        self.forwarded = 0  # requests this replica sent to another one

    async def close(self) -> None:
        await self.client.close()

    async def elsewhere(self, charger_id: str, method: str, path: str, body: dict[str, Any] | None,
                        timeout_s: float) -> Answer:
        """Ask the owning replica; 404 with where/when last seen when it is connected nowhere."""
        tried: set[tuple[str, int]] = set()
        for _ in range(MAX_HOPS):
            owner = await self.store.owner(charger_id)
            if not _connected_elsewhere(owner, self.replica_id) or (owner["replica_id"], owner["epoch"]) in tried:
                return await self.nowhere(charger_id, owner)
            tried.add((owner["replica_id"], owner["epoch"]))
            try:
                status, data, answered_by = await self.client.forward(owner["admin_url"], method, path, body, timeout_s)
            except ReplicaUnreachable as err:
                return await self.nowhere(charger_id, owner, unreachable=err.message)
            self.forwarded += 1
            if status == 404 and isinstance(data, dict) and data.get("not_here"):
                continue  # it moved on while we asked: look again
            return Answer(status, data, owner["replica_id"] if answered_by is None else answered_by)
        return await self.nowhere(charger_id, await self.store.owner(charger_id))

    async def nowhere(self, charger_id: str, owner: dict[str, Any] | None, unreachable: str | None = None,
                      not_here: bool = False) -> Answer:
        if owner is None:
            return Answer(404, {"error": f"charger {charger_id!r} has never connected to this environment",
                                "charger_id": charger_id, "connected": False, "not_here": not_here})
        where = owner.get("replica_id") or "an unknown replica"
        when = owner.get("released_at") or owner.get("last_seen_at") or owner.get("connected_at")
        text = f"charger {charger_id!r} is not connected to any replica; last seen on replica {where}"
        if when:
            text += f" at {when}"
        if unreachable:
            text += f" (that replica's admin API does not answer: {unreachable})"
        return Answer(404, {
            "error": text, "charger_id": charger_id, "connected": False, "not_here": not_here,
            "last_replica_id": owner.get("replica_id"), "last_connected_at": owner.get("connected_at"),
            "last_disconnected_at": owner.get("released_at"), "last_seen_at": owner.get("last_seen_at"),
        })


def _connected_elsewhere(owner: dict[str, Any] | None, me: str) -> bool:
    return bool(owner and owner.get("epoch") is not None and owner.get("released_at") is None
                and owner.get("replica_id") != me and owner.get("admin_url") and not owner.get("replica_stopped_at"))

