"""This replica's side of "one charger, one connection, one owner", across every replica.

    connected(conn)     claim the charger in the store (a durable write riding the next group
                        commit; the connection does not wait for it) and remember the claim on
                        the connection, so every write it makes is fenced by that epoch
    disconnected(conn)  release the claim (lazily; ignored by the store once a newer one exists)
    takeovers(list)     another replica's claim took one of our chargers while our connection
                        was open: close ours (the store delivers these within a second: NOTIFY on
                        Postgres, a polled takeover log on SQLite)

A takeover may arrive before our own claim for that connection has resolved (both race on the
event loop): it is kept and judged the moment the claim's epoch is known. A claim that fails
(the database refused it, or a newer connection in the same batch beat it) ends the connection:
a charger that cannot own itself must reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from envctl.charger.server.connection import ChargerConnection
from envctl.charger.server.metrics import Metrics
from envctl.charger.server.registry import Registry
from envctl.charger.store import Store
from envctl.charger.store.base import Takeover, utcnow
from envctl.charger.store.group_commit import StoreClosed

log = logging.getLogger(__name__)


class Ownership:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        metrics: Metrics,
        spawn: Callable[[ChargerConnection], None],
    ) -> None:
        self.store = store
        self.registry = registry
        self.metrics = metrics
        self._supersede = spawn  # closes a superseded connection in the background
        self._early: dict[str, int] = {}  # charger -> newest takeover epoch seen before our claim resolved
        store.on_takeover = self.takeovers
        store.connected_ids = registry.ids

    def connected(self, conn: ChargerConnection) -> None:
        try:
            conn.claim = self.store.claim(conn.charger_id, utcnow(), lambda claim, err: self._claimed(conn, err))
        except StoreClosed:  # slipped in while the server stops: it cannot own anything here
            self._supersede(conn)

    def _claimed(self, conn: ChargerConnection, error: BaseException | None) -> None:
        early = self._early.pop(conn.charger_id, None)
        if error is not None or conn.claim is None or conn.claim.epoch is None:
            if not conn.superseded:
                log.warning("charger %s: ownership claim failed (%s); closing its connection", conn.charger_id, error)
                self.metrics.claims_failed += 1
                self._supersede(conn)
            return
        epoch = conn.claim.epoch
        if early is not None and early > epoch:
            self._take_away(conn)
        elif not conn.superseded:
            conn.state.adopt(epoch)

    def disconnected(self, conn: ChargerConnection) -> None:
        if conn.claim is not None:
            self.store.release(conn.claim, utcnow())
        if self.registry.get(conn.charger_id) is None:
            self._early.pop(conn.charger_id, None)

    def takeovers(self, takeovers: list[Takeover]) -> None:
        for t in takeovers:
            conn = self.registry.get(t.charger_id)
            if conn is None or conn.claim is None or conn.superseded:
                continue
            epoch = conn.claim.epoch
            if epoch is None:
                self._early[t.charger_id] = max(t.epoch, self._early.get(t.charger_id, 0))
            elif epoch < t.epoch:
                self._take_away(conn)

    def _take_away(self, conn: ChargerConnection) -> None:
        self.metrics.taken_over += 1
        self.registry.detach(conn)
        self._supersede(conn)
