"""Live connections by charger id, oldest first, and what this replica knows of each charger.

A charger may open a second connection while the first still looks alive to us (it lost the
network and reconnected). The newest connection wins: `attach` returns the one it replaced so the
caller can close it, and `detach` only removes a connection that is still the current one, so the
old connection's teardown cannot unregister its successor. Across replicas the same rule is kept
by the store's ownership epochs (see ownership.py).

The ChargerState (boot info, connector statuses, open transactions) is the fleet's, not this
replica's: the store holds it. When a charger lands here with an epoch that does not follow the
last one seen here, another connection (on another replica) held it in between, so what this
replica remembers is dropped (`adopt`); the stored state is read the first time someone asks
(`needs_load`, then `loaded(snapshot)`), and what this connection reported since is laid over
it. A connect storm therefore reads nothing per charger, and a charger reconnecting to the same
replica keeps what it reported a moment ago (lazy writes may not have reached the store yet).

What is remembered of chargers no longer connected here is bounded (MAX_OFFLINE_STATES, the
ones that left longest ago are forgotten first): an unauthenticated client cycling through made-up
charger ids would otherwise grow the replica without limit. Forgetting costs nothing but a read
of the store the next time someone asks about that charger.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envctl.charger.server.connection import ChargerConnection


MAX_OFFLINE_STATES = 10_000


@dataclass(slots=True)
class ChargerState:
    charger_id: str
    boot: dict[str, Any] | None = None
    booted_at: str | None = None
    connectors: dict[int, dict[str, Any]] = field(default_factory=dict)  # connector -> {status, errorCode}
    open_transactions: dict[int, dict[str, Any]] = field(default_factory=dict)  # transactionId -> details
    stopped: set[int] = field(default_factory=set)  # stopped since landing (may be open in the snapshot)
    stored: dict[str, Any] | None = None  # the store's snapshot, once read
    epoch: int | None = None  # ownership epoch of the latest connection here whose claim resolved
    connections: int = 0  # how many times this charger connected to this process

    def adopt(self, epoch: int) -> None:
        """A connection here now owns the charger under `epoch`; forget what is stale."""
        if self.epoch is None or epoch != self.epoch + 1:  # someone else held it in between (or never here)
            self.boot = self.booted_at = self.stored = None
            self.connectors, self.open_transactions, self.stopped = {}, {}, set()
        self.epoch = epoch

    @property
    def needs_load(self) -> bool:
        return self.stored is None

    def loaded(self, snapshot: dict[str, Any]) -> None:
        self.stored = snapshot

    def started(self, transaction_id: int, details: dict[str, Any]) -> None:
        self.open_transactions[transaction_id] = details
        self.stopped.discard(transaction_id)

    def stopped_transaction(self, transaction_id: int) -> None:
        self.open_transactions.pop(transaction_id, None)
        self.stopped.add(transaction_id)

    def to_dict(self) -> dict[str, Any]:
        stored = self.stored or {}
        connectors = {**stored.get("connectors", {}), **self.connectors}
        open_tx = {**stored.get("open_transactions", {}), **self.open_transactions}
        for tid in self.stopped:
            open_tx.pop(tid, None)
        return {
            "charger_id": self.charger_id,
            "boot": self.boot if self.boot is not None else stored.get("boot"),
            "booted_at": self.booted_at if self.boot is not None else stored.get("booted_at"),
            "connectors": {str(k): v for k, v in sorted(connectors.items())},
            "open_transactions": {str(k): v for k, v in sorted(open_tx.items())},
            "connections": self.connections,
        }


class Registry:
    def __init__(self, max_offline_states: int = MAX_OFFLINE_STATES) -> None:
        self._live: dict[str, ChargerConnection] = {}  # insertion order == connect order
        self._states: dict[str, ChargerState] = {}
        self._offline: OrderedDict[str, None] = OrderedDict()  # states without a live connection, oldest first
        self.max_offline_states = max_offline_states

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
        self._offline.pop(conn.charger_id, None)
        conn.state.connections += 1
        return old

    def detach(self, conn: ChargerConnection) -> bool:
        if self._live.get(conn.charger_id) is conn:
            del self._live[conn.charger_id]
            self._went_offline(conn.charger_id)
            return True
        return False

    def _went_offline(self, charger_id: str) -> None:
        self._offline[charger_id] = None
        self._offline.move_to_end(charger_id)
        while len(self._offline) > self.max_offline_states:
            forgotten, _ = self._offline.popitem(last=False)
            self._states.pop(forgotten, None)

    def remembered(self) -> int:
        """How many chargers this replica keeps a state for (connected ones and recently left ones)."""
        return len(self._states)

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
