"""One charger at the edge: its WebSocket, its current upstream, and the CALLs outstanding.

Two pumps move frames byte for byte (text frames, never decoded): the charger's pump (here,
`run`) and one pump per upstream (`_pump_down`). Each frame is scanned only for its type and id
(framing.py) to keep two facts:

    charger_call    the charger's CALL sent to the current upstream and not yet answered
    backend_calls   CALLs a backend sent to the charger, by id, with the upstream that sent them:
                    the charger's answer goes back to *that* upstream, even after a switch

OCPP-J allows one CALL at a time per direction, so "neither outstanding" comes within a round
trip on a healthy charger. A CALL older than `call_timeout` counts as timed out (the sender
has given up on it too), so a backend that never answers cannot block a move for ever.

Holding: while the upstream is being replaced (a move, or a backend that died) the charger's
frames are queued in order and sent to the new upstream after the switch; the charger's answers
to a backend's CALL still go straight to the upstream that asked.

Close codes are per hop (RFC 6455): the charger closing closes the upstream with the charger's
code; a backend closing with a code meant for the charger (normal, policy, protocol errors) closes
the charger with it; a backend going away (no close frame, 1001, 1011, 1012, 1013) is a backend
problem, not the charger's: the session is re-homed (mover.py) and the charger sees latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from envctl.edge.backends import Backend
from envctl.edge.framing import CALL, is_answer, scan
from envctl.edge.upstream import HandshakeFacts, UpstreamError

# A backend closing with one of these is going away, not ending the charger's session.
BACKEND_GOING_AWAY = frozenset({1001, 1011, 1012, 1013, 1014})
MOVED = 1000  # the old upstream's close after a switch: a normal end of that hop


class Hooks(Protocol):
    def upstream_lost(self, session: Session, backend: Backend, abnormal: bool) -> None: ...
    def frames(self, n_up: int, n_down: int) -> None: ...


Opener = Callable[[Backend, HandshakeFacts], Awaitable[ClientConnection]]


def _sendable(code: int | None) -> int:
    """A close code one may send on the other hop (1005, 1006, 1015 are never sent)."""
    if code is None or code in (1005, 1006, 1015) or not (1000 <= code <= 4999):
        return 1001
    return code


class Session:
    def __init__(self, charger: ServerConnection, facts: HandshakeFacts, upstream: ClientConnection,
                 backend: Backend, hooks: Hooks, *, call_timeout: float = 30.0) -> None:
        self.charger = charger
        self.facts = facts
        self.upstream = upstream
        self.backend = backend
        self.hooks = hooks
        self.call_timeout = call_timeout
        self.charger_call: str | None = None
        self.charger_call_at = 0.0
        self.backend_calls: dict[str, tuple[ClientConnection, float]] = {}
        self.holding = False
        self.orphaned = False  # the upstream went away without the edge asking; waiting for a new home
        self.held: deque[bytes] = deque()
        self.max_held = 0
        self.moving = False
        self._next_up: ClientConnection | None = None  # a move's new upstream, open, not yet switched to
        self.closed = False
        self.connected_at = time.monotonic()
        self._changed: asyncio.Event | None = None  # set on every state change while someone waits
        self._tasks: set[asyncio.Task[None]] = set()
        backend.sessions.add(self)

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
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 1.0)):  # re-check: calls time out by the clock
                        await self._changed.wait()
            return True
        finally:
            self._changed = None

    # -- the data path -------------------------------------------------------------------------
    async def run(self) -> None:
        """Pump the charger's frames until it goes; then close the upstream with its code."""
        self._spawn(self._pump_down(self.upstream, self.backend))
        charger = self.charger
        code, reason = 1001, "charger went away"
        try:
            while True:
                frame = await charger.recv(decode=False)
                kind, mid = scan(frame)
                if mid is not None and is_answer(kind) and mid in self.backend_calls:
                    up, _ = self.backend_calls.pop(mid)
                    self._poke()
                    await self._send_up(up, frame, held_on_failure=False)
                elif self.holding:
                    self.held.append(frame)
                    self.max_held = max(self.max_held, len(self.held))
                else:
                    if kind == CALL:
                        self.charger_call, self.charger_call_at = mid, time.monotonic()
                    await self._send_up(self.upstream, frame, held_on_failure=True)
                self.hooks.frames(1, 0)
        except ConnectionClosed as exc:
            if exc.rcvd is not None:
                code, reason = _sendable(exc.rcvd.code), exc.rcvd.reason
        finally:
            self.closed = True
            self._poke()
            self.backend.sessions.discard(self)
            await self._close_upstream(self.upstream, code, reason)
            for task in list(self._tasks):
                task.cancel()

    async def _send_up(self, up: ClientConnection, frame: bytes, *, held_on_failure: bool) -> None:
        try:
            await up.send(frame, text=True)
        except ConnectionClosed:
            # Not written: the upstream had already closed. Keep the frame for the next upstream
            # (its pump reports the loss). An answer to a dead backend's CALL has nowhere to go.
            if held_on_failure and up is self.upstream:
                if scan(frame)[0] == CALL:
                    self.charger_call = None
                self.holding = True
                self.held.appendleft(frame)

    async def _pump_down(self, up: ClientConnection, backend: Backend) -> None:
        charger = self.charger
        try:
            while True:
                frame = await up.recv(decode=False)
                kind, mid = scan(frame)
                if kind == CALL and mid is not None:
                    self.backend_calls[mid] = (up, time.monotonic())
                    self._poke()
                elif mid is not None and mid == self.charger_call and is_answer(kind) and up is self.upstream:
                    self.charger_call = None
                    self._poke()
                try:
                    await charger.send(frame, text=True)
                except ConnectionClosed:
                    return  # the charger's pump ends the session
                self.hooks.frames(0, 1)
        except ConnectionClosed as exc:
            if self.closed or up is not self.upstream:
                return  # we closed it: the session ended, or it was replaced
            if self._next_up is not None:
                # Mid-move, the new upstream is open: the old one closing (a backend that hands the
                # charger over, e.g. envctl's server closing a connection another replica claimed)
                # just means "switch now".
                self._forget(up)
                self.orphaned = True
                self._poke()
                return
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code is not None and code not in BACKEND_GOING_AWAY:
                # The backend ended the charger's session on purpose: tell the charger, same code.
                self.closed = True
                self._poke()
                with contextlib.suppress(Exception):
                    await charger.close(_sendable(code), exc.rcvd.reason if exc.rcvd else "")
                return
            self._orphan(up, backend, abnormal=code is None)

    def _orphan(self, up: ClientConnection, backend: Backend, abnormal: bool) -> None:
        """The upstream went away: hold the charger's frames until the mover finds a new home.

        The charger's CALL in flight to the dead backend is neither replayed nor answered (see
        docs/edge.md): the charger's own timeout and retry rules apply. A late answer to the dead
        backend's own CALL is dropped: nobody is left to read it.
        """
        self.holding = True
        self.orphaned = True
        self._forget(up)
        self._poke()
        self.hooks.upstream_lost(self, backend, abnormal)

    def _forget(self, up: ClientConnection) -> None:
        """The CALLs outstanding on an upstream that is gone: nobody will answer or read them."""
        self.charger_call = None
        for mid in [m for m, (u, _) in self.backend_calls.items() if u is up]:
            del self.backend_calls[mid]

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
                self._release_to(old)
                return "refused"
            self._next_up = new
            # A backend CALL in flight on the old upstream finishes there first (the charger's
            # answer passes straight through while we hold). If the old upstream goes, switch now.
            if self.closed or not await self._until(lambda: self.idle() or self.orphaned, idle_timeout):
                self._next_up = None
                await self._close_upstream(new, MOVED, "move abandoned")
                if not self.closed:
                    self._release_to(old)
                return "closed" if self.closed else "busy"
            await self._switch(new, target)
            self._spawn(self._close_upstream(old, MOVED, "charger moved to another backend"))
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
            return "refused"
        if self.closed:
            await self._close_upstream(new, MOVED, "charger left")
            return "closed"
        await self._switch(new, target)
        return "moved"

    def _release_to(self, old: ClientConnection) -> None:
        """A move that did not happen: the held frames go to the upstream we stayed on, in order."""
        if self.orphaned:
            return  # the old upstream died meanwhile: the mover re-homes us, held frames wait
        self._spawn(self._flush(old))

    async def _switch(self, new: ClientConnection, target: Backend) -> None:
        self.backend.sessions.discard(self)
        target.sessions.add(self)
        self.upstream, self.backend = new, target
        self.orphaned = False
        self.charger_call = None
        self._spawn(self._pump_down(new, target))
        await self._flush(new)

    async def _flush(self, up: ClientConnection) -> None:
        """Send the held frames in order; new frames keep queueing behind them until it is empty."""
        while self.held:
            frame = self.held.popleft()
            kind, mid = scan(frame)
            if kind == CALL:
                self.charger_call, self.charger_call_at = mid, time.monotonic()
            try:
                await up.send(frame, text=True)
            except ConnectionClosed:
                if kind == CALL:
                    self.charger_call = None
                self.held.appendleft(frame)
                return  # this upstream died too: its pump reports it, the frames wait for the next
        if up is self.upstream and not self.orphaned:
            self.holding = False

    async def _close_upstream(self, up: ClientConnection, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await up.close(code, reason)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, code: int, reason: str) -> None:
        """Close the charger (drain, shutdown); the charger's pump then closes the upstream."""
        with contextlib.suppress(Exception):
            await self.charger.close(code, reason)
