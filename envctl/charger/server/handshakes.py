"""Pending handshakes: connections accepted but not yet a WebSocket, capped per replica and per source.

Every accepted TCP connection costs a file descriptor from the moment it is accepted, and a
client that never finishes its handshake keeps it for the handshake timeout (10 s), then comes
back. With a replica's descriptor limit, 800 idle sockets from one attacker locked real chargers
out (accept() failed with EMFILE, their handshakes timed out in the backlog). So a replica counts
the connections that are between accept and the end of their handshake (`HandshakeGate`).

Above the per-replica cap a connection is closed at once (RST, before a byte is read): a refusal
must never hold a descriptor itself. That cap keeps descriptors for the chargers already
connected, the admin API and the database whoever opens the sockets.

The per-source cap is what stops one attacker. It cannot refuse at accept time: the event loop
accepts a whole backlog at once, so a reconnect storm from one address (a carrier NAT, a node's
SNAT, the local runtime's loopback) has thousands of connections "pending" in the same instant,
every one of them about to send its request. So a connection above its source's cap is on
probation instead: unless its request has started to arrive within GRACE_S, it is closed then
(RST), where an idle socket would otherwise hold its descriptor for the whole handshake timeout
(10 s) and come back. A real charger sends its request right after connecting. One client process
behind many chargers (the simulator in a storm: 3,800 reconnecting at once from one address) may
take longer than GRACE_S to write every request; while other connections from that source keep
sending theirs, the probation is extended (up to the handshake timeout): the source is busy, not
idle. Measured before that rule: 1,191 of 3,803 reconnects refused.

Both caps default from the descriptor limit (RLIMIT_NOFILE) the process runs with: a quarter of
it for pending handshakes, a quarter of that (at most 1,024) per source. IPv6 sources are counted
per /64, the block one subscriber gets. TLS handshakes (wss://) happen before a connection
reaches the gate and are bounded by the handshake timeout only.
"""

from __future__ import annotations

import ipaddress
import resource
import socket
import time
from typing import Any

REPLICA_SHARE = 4  # a quarter of the descriptors may be pending handshakes
SOURCE_SHARE = 4  # a quarter of those from one source
MAX_PER_SOURCE_DEFAULT = 1024
REFUSED_REPLICA = "pending_handshakes"  # metric reasons (rejected handshakes)
REFUSED_SOURCE = "pending_handshakes_source"
GRACE_S = 2.0  # how long a connection above its source's cap may stay silent
ON_PROBATION = "probation"  # HandshakeGate.enter: admitted, but closed unless it talks within GRACE_S


def descriptor_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def default_caps(limit: int) -> tuple[int, int]:
    """(per replica, per source) for a process allowed `limit` open descriptors."""
    per_replica = max(16, limit // REPLICA_SHARE)
    return per_replica, max(4, min(per_replica // SOURCE_SHARE, MAX_PER_SOURCE_DEFAULT))


def source_of(peername: Any) -> str:
    """The address a client is counted under: its IPv4 address, or its IPv6 /64."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class HandshakeGate:
    __slots__ = ("max_pending", "max_per_source", "pending", "_by_source", "_talked")

    def __init__(self, max_pending: int, max_per_source: int) -> None:
        self.max_pending = max_pending
        self.max_per_source = max_per_source
        self.pending = 0
        self._by_source: dict[str, int] = {}  # only sources with a pending handshake: bounded by max_pending
        self._talked: dict[str, float] = {}  # source -> when one of its pending connections last sent bytes

    @classmethod
    def configured(cls, max_pending: int, max_per_source: int) -> HandshakeGate:
        """The gate with the given caps; a cap of 0 takes its default from the descriptor limit."""
        default_pending, default_source = default_caps(descriptor_limit())
        pending = max_pending or default_pending
        return cls(pending, max_per_source or min(default_source, pending))

    def enter(self, source: str) -> str | None:
        """Count a new connection from `source`: None (admitted), ON_PROBATION (admitted, above its
        source's cap), or REFUSED_REPLICA (nothing counted: close it now)."""
        if self.pending >= self.max_pending:
            return REFUSED_REPLICA
        n = self._by_source.get(source, 0)
        self._by_source[source] = n + 1
        self.pending += 1
        return ON_PROBATION if n >= self.max_per_source else None

    def leave(self, source: str) -> None:
        n = self._by_source.get(source, 0) - 1
        if n > 0:
            self._by_source[source] = n
        else:
            self._by_source.pop(source, None)
            self._talked.pop(source, None)
        self.pending -= 1

    def talked(self, source: str) -> None:
        """A pending connection from `source` sent its first bytes."""
        if source in self._by_source:
            self._talked[source] = time.monotonic()

    def busy(self, source: str) -> bool:
        """Whether `source` is working through its handshakes (one of them sent bytes within GRACE_S)."""
        return time.monotonic() - self._talked.get(source, -GRACE_S * 2) < GRACE_S

    def to_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "sources": len(self._by_source), "max_pending": self.max_pending,
                "max_per_source": self.max_per_source}


def has_sent_bytes(transport: Any) -> bool:
    """Whether the client's bytes are waiting in the kernel (the loop may not have read them yet)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        with socket.socket(fileno=socket.dup(sock.fileno())) as peek:
            return bool(peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:  # closed or reset meanwhile: nothing to keep
        return False
