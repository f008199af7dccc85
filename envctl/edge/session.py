"""One charger at the edge: its connection, its current upstream, and the CALLs outstanding.

Messages move byte for byte between two hops (hop.py), by callbacks, without a task or a future
per message. Each is scanned only for its type and id (framing.py) to keep two facts:

    charger_call    the charger's CALL sent to the current upstream and not yet answered
    backend_calls   CALLs a backend sent to the charger, by id, with the upstream that sent them:
                    the charger's answer goes back to *that* upstream, even after a switch

OCPP-J allows one CALL at a time per direction, so "neither outstanding" comes within a round
trip on a healthy charger. A CALL older than `call_timeout` counts as timed out (the sender has
given up on it too), so a backend that never answers cannot block a move for ever.

Holding: while the upstream is being replaced (a move, or a backend that died) the charger's
messages are queued in order and sent to the new upstream at the switch; the charger's answers to
a backend's CALL still go straight to the upstream that asked.

Close codes are per hop (RFC 6455): each hop's close handshake is answered on that hop. The
charger closing closes the upstream with the charger's code; a backend closing with a code meant
for the charger (normal, policy, protocol errors) closes the charger with it; a backend going away
(no close frame, 1001, 1011, 1012, 1013, 1014) is the backend's problem, not the charger's: the
session is re-homed (mover.py) and the charger sees latency.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from envctl.edge.backends import Backend
from envctl.edge.charger_side import ChargerHop
from envctl.edge.framing import CALL, is_answer, scan
from envctl.edge.upstream import HandshakeFacts, UpstreamError, UpstreamHop

BACKEND_GOING_AWAY = frozenset({1001, 1011, 1012, 1013, 1014})
MOVED = 1000  # the old upstream's close after a switch: a normal end of that hop


class Hooks(Protocol):
    def upstream_lost(self, session: Session, backend: Backend, abnormal: bool) -> None: ...
    def session_ended(self, session: Session) -> None: ...


Opener = Callable[[Backend, HandshakeFacts], Awaitable[UpstreamHop]]


def sendable(code: int | None) -> int:
    """A close code one may send on the other hop (1005, 1006, 1015 are never sent)."""
    if code is None or code in (1005, 1006, 1015) or not (1000 <= code <= 4999):
        return 1001
    return code


class Session:
    def __init__(self, charger: ChargerHop, facts: HandshakeFacts, upstream: UpstreamHop,
                 backend: Backend, hooks: Hooks, *, call_timeout: float = 30.0) -> None:
        self.charger = charger
        self.facts = facts
        self.upstream = upstream
        self.backend = backend
        self.hooks = hooks
        self.call_timeout = call_timeout
        self.charger_call: str | None = None
        self.charger_call_at = 0.0
        self.backend_calls: dict[str, tuple[UpstreamHop, float]] = {}
        self.dead_calls: set[str] = set()  # CALLs of an upstream that is gone: their answers are dropped
        self.holding = False
        self.orphaned = False  # the upstream went away without the edge asking; waiting for a new home
        self.held: deque[tuple[int, bytes]] = deque()
        self.moving = False
        self._next_up: UpstreamHop | None = None  # a move's new upstream, open, not yet switched to
        self.closed = False
        self.frames_up = 0
        self.frames_down = 0
        self.connected_at = time.monotonic()
        self._changed: asyncio.Event | None = None  # set on every state change while a move waits
        backend.sessions.add(self)

    def start(self) -> None:
        self._attach(self.upstream)
        self.charger.partner, self.upstream.partner = self.upstream, self.charger
        self.charger.listen(self._from_charger, self._charger_closed)

    # -- state ---------------------------------------------------------------------------------
    def idle(self, now: float | None = None) -> bool:
        """No CALL outstanding in either direction (a timed-out one does not count)."""
        now = time.monotonic() if now is None else now
        if self.charger_call is not None and now - self.charger_call_at < self.call_timeout:
            return False
        return not any(now - t < self.call_timeout for _, t in self.backend_calls.values())

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        self._changed = asyncio.Event()
        try:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return False
                self._changed.clear()
                try:
                    async with asyncio.timeout(min(remaining, 1.0)):  # re-check: calls time out by the clock
                        await self._changed.wait()
                except TimeoutError:
                    pass
            return True
        finally:
            self._changed = None

    # -- the data path -------------------------------------------------------------------------
    def _from_charger(self, opcode: int, payload: bytes) -> None:
        self.frames_up += 1
        kind, mid = scan(payload)
        if mid is not None and is_answer(kind) and mid in self.backend_calls:
            up, _ = self.backend_calls.pop(mid)
            up.send(opcode, payload)  # an answer for a backend that is gone has nowhere to go
            if self._changed is not None:
                self._changed.set()
        elif mid is not None and is_answer(kind) and mid in self.dead_calls:
            self.dead_calls.discard(mid)  # its backend died: no other backend asked for it
        elif self.holding:
            self.held.append((opcode, payload))
        else:
            if kind == CALL:
                self.charger_call, self.charger_call_at = mid, time.monotonic()
            if not self.upstream.send(opcode, payload):
                # Not written: the upstream is closing. Keep it for the next upstream (the loss is
                # reported by the upstream's close).
                if kind == CALL:
                    self.charger_call = None
                self.holding = True
                self.held.append((opcode, payload))

    def _attach(self, up: UpstreamHop) -> None:
        def from_backend(opcode: int, payload: bytes) -> None:
            self.frames_down += 1
            kind, mid = scan(payload)
            if kind == CALL and mid is not None:
                self.backend_calls[mid] = (up, time.monotonic())
            elif mid is not None and mid == self.charger_call and is_answer(kind) and up is self.upstream:
                self.charger_call = None
                if self._changed is not None:
                    self._changed.set()
            self.charger.send(opcode, payload)

        up.listen(from_backend, lambda code, reason: self._upstream_closed(up, code, reason))

    def _charger_closed(self, code: int | None, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._poke()
        self.backend.sessions.discard(self)
        code = sendable(code)
        for up in {self.upstream, self._next_up}:
            if up is not None:
                up.close(code, reason)
        self.hooks.session_ended(self)

    def _upstream_closed(self, up: UpstreamHop, code: int | None, reason: str) -> None:
        if self.closed or up is not self.upstream:
            return  # the session ended, or this upstream was replaced
        if self._next_up is not None:
            # Mid-move with the new upstream open: the old one closing (e.g. envctl's server closing
            # a connection another replica claimed) just means "switch now".
            self._forget(up)
            self.orphaned = True
            self._poke()
            return
        if code is not None and code not in BACKEND_GOING_AWAY:
            # The backend ended the charger's session on purpose: tell the charger, same code.
            self.charger.close(sendable(code), reason)
            return
        self._orphan(up, abnormal=code is None)

    def _orphan(self, up: UpstreamHop, abnormal: bool) -> None:
        """The upstream went away: hold the charger's messages until the mover finds a new home.

        The charger's CALL in flight to the dead backend is neither replayed nor answered (see
        docs/edge.md): the charger's own timeout and retry rules apply. A late answer to the dead
        backend's own CALL is dropped: nobody is left to read it.
        """
        self.holding = True
        self.orphaned = True
        self._forget(up)
        self._poke()
        self.hooks.upstream_lost(self, self.backend, abnormal)

    def _forget(self, up: UpstreamHop) -> None:
        """The CALLs outstanding on an upstream that is gone: nobody will answer or read them."""
        self.charger_call = None
        for mid in [m for m, (u, _) in self.backend_calls.items() if u is up]:
            del self.backend_calls[mid]
            if len(self.dead_calls) < 16:  # one CALL at a time per direction: a handful at most
                self.dead_calls.add(mid)

    # -- switching upstreams -------------------------------------------------------------------
    async def move(self, target: Backend, opener: Opener, *, idle_timeout: float) -> str:
        """Move to `target` without the charger noticing; 'moved', 'busy', 'refused' or 'closed'."""
        if self.moving or self.closed or self.orphaned:
            return "busy"
        if target is self.backend:
            return "moved"
        self.moving = True
        old = self.upstream
        try:
            if not await self._until(self.idle, idle_timeout):
                return "closed" if self.closed else "busy"
            self.holding = True  # from here the charger's new CALLs wait for the new upstream
            try:
                new = await opener(target, self.facts)
            except UpstreamError:
                self._release()
                return "closed" if self.closed else "refused"
            if self.closed:
                new.close(MOVED, "charger left")
                return "closed"
            self._next_up = new
            # A backend CALL in flight on the old upstream finishes there first (the charger's
            # answer passes straight through while we hold). If the old upstream goes, switch now.
            if not await self._until(lambda: self.idle() or self.orphaned, idle_timeout):
                self._next_up = None
                new.close(MOVED, "move abandoned")
                self._release()
                return "closed" if self.closed else "busy"
            self._switch(new, target)
            old.close(MOVED, "charger moved to another backend")
            return "moved"
        finally:
            self.moving = False
            self._next_up = None

    async def rehome(self, target: Backend, opener: Opener) -> str:
        """Give an orphaned session its new upstream; 'moved', 'refused' or 'closed'."""
        if self.closed:
            return "closed"
        if not self.orphaned:
            return "moved"  # a move in progress switched it already
        try:
            new = await opener(target, self.facts)
        except UpstreamError:
            return "closed" if self.closed else "refused"
        if self.closed:
            new.close(MOVED, "charger left")
            return "closed"
        self._switch(new, target)
        return "moved"

    def _release(self) -> None:
        """A move that did not happen: the held messages go to the upstream we stayed on, in order."""
        if not self.orphaned and not self.closed:
            self._flush(self.upstream)

    def _switch(self, new: UpstreamHop, target: Backend) -> None:
        self.backend.sessions.discard(self)
        target.sessions.add(self)
        self.upstream, self.backend = new, target
        self.orphaned = False
        self.charger_call = None
        self.charger.partner, new.partner = new, self.charger
        self._attach(new)
        self._flush(new)

    def _flush(self, up: UpstreamHop) -> None:
        """Send the held messages in order (no await: nothing can slip in between)."""
        while self.held:
            opcode, payload = self.held[0]
            kind, mid = scan(payload)
            if not up.send(opcode, payload):
                return  # this upstream is closing too: its close re-homes us, the messages wait
            self.held.popleft()
            if kind == CALL:
                self.charger_call, self.charger_call_at = mid, time.monotonic()
        if up is self.upstream and not self.orphaned:
            self.holding = False

    def close(self, code: int, reason: str) -> None:
        """Close the charger (drain, shutdown); its close then closes the upstream."""
        self.charger.close(code, reason)
