"""Live connections by charger id, oldest first, and the state each charger keeps across connections.

A charger may open a second connection while the first still looks alive to us (it lost the
network and reconnected). The newest connection wins: `attach` returns the one it replaced so the
caller can close it, and `detach` only removes a connection that is still the current one, so the
old connection's teardown cannot unregister its successor. The ChargerState (boot info,
connector statuses, open transactions) belongs to the charger id, not the connection, so it
survives replacement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envctl.charger.server.connection import ChargerConnection


@dataclass(slots=True)
class ChargerState:
    charger_id: str
    boot: dict[str, Any] | None = None
    booted_at: str | None = None
    connectors: dict[int, dict[str, Any]] = field(default_factory=dict)  # connector -> {status, errorCode}
    open_transactions: dict[int, dict[str, Any]] = field(default_factory=dict)  # transactionId -> details
    connections: int = 0  # how many times this charger connected to this process

    def to_dict(self) -> dict[str, Any]:
        return {
            "charger_id": self.charger_id,
            "boot": self.boot,
            "booted_at": self.booted_at,
            "connectors": {str(k): v for k, v in sorted(self.connectors.items())},
            "open_transactions": {str(k): v for k, v in sorted(self.open_transactions.items())},
            "connections": self.connections,
        }


class Registry:
    def __init__(self) -> None:
        self._live: dict[str, ChargerConnection] = {}  # insertion order == connect order
        self._states: dict[str, ChargerState] = {}

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, charger_id: str) -> bool:
        return charger_id in self._live

    def seen(self, charger_id: str) -> bool:
        return charger_id in self._states

    def get(self, charger_id: str) -> ChargerConnection | None:
        return self._live.get(charger_id)

    def state(self, charger_id: str) -> ChargerState:
        st = self._states.get(charger_id)
        if st is None:
            st = self._states[charger_id] = ChargerState(charger_id)
        return st

    def attach(self, conn: ChargerConnection) -> ChargerConnection | None:
        """Register `conn` as the charger's current connection; return the one it replaces."""
        old = self._live.pop(conn.charger_id, None)
        self._live[conn.charger_id] = conn
        conn.state.connections += 1
        return old

    def detach(self, conn: ChargerConnection) -> bool:
        if self._live.get(conn.charger_id) is conn:
            del self._live[conn.charger_id]
            return True
        return False

    def oldest(self, n: int) -> list[ChargerConnection]:
        out: list[ChargerConnection] = []
        for conn in self._live.values():
            if len(out) >= n:
                break
            out.append(conn)
        return out

    def ids(self, limit: int | None = None) -> list[str]:
        if limit is None:
            return list(self._live)
        return [cid for cid, _ in zip(self._live, range(limit))]

    def connections(self) -> list[ChargerConnection]:
        return list(self._live.values())
