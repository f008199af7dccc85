"""A simulator run's settings (what the simulated fleet looks like): one picklable value handed
from the CLI to every worker.

Parsing of the CLI's compact spellings (id patterns, address ranges, session lengths) lives here
too, so bad flags fail before any process starts, with a ConfigError naming the flag.
"""

from __future__ import annotations

import ipaddress
import math
import random
from dataclasses import dataclass, field, replace

from envctl.charger.protocol import identity
from envctl.errors import ConfigError

# One worker process keeps well under the 20,000 file-descriptor limit with this many chargers.
CHARGERS_PER_WORKER = 15_000


@dataclass(frozen=True, slots=True)
class SimConfig:
    url: str = "ws://127.0.0.1:9000/ocpp"
    chargers: int = 1
    id_pattern: str = "CP{n:06d}"
    id_start: int = 1
    connectors: int = 2
    basic_auth_password: str | None = None
    heartbeat_interval: float | None = None  # None: use the interval the server's BootNotification gave
    session_rate: float = 0.0  # sessions per charger per hour
    session_minutes: tuple[float, float] = (20.0, 40.0)  # uniform range of a session's length
    meter_interval: float = 60.0
    reconnect: str = "immediate"  # immediate | backoff
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    connect_rate: float = 0.0  # initial connects/s across the whole fleet; 0 = as fast as possible
    source_addresses: tuple[str, ...] = ()
    tx_attempts: int = 3  # TransactionMessageAttempts
    tx_retry_interval: float = 10.0  # TransactionMessageRetryInterval (seconds, multiplied by attempt)
    call_timeout: float = 30.0
    open_timeout: float = 10.0
    boot_retry: float = 10.0  # used when a Pending/Rejected BootNotification carries interval 0
    ledger_dir: str | None = None
    seed: int | None = None
    # Keys -> values reported by GetConfiguration before any ChangeConfiguration (strings, per 1.6).
    extra_config: dict[str, str] = field(default_factory=dict)

    def charger_id(self, index: int) -> str:
        """Id of the fleet's `index`-th charger (0-based); the pattern sees n = id_start + index."""
        return self.id_pattern.format(n=self.id_start + index)

    def source_address(self, index: int) -> str | None:
        if not self.source_addresses:
            return None
        return self.source_addresses[index % len(self.source_addresses)]

    def rng(self, worker: int) -> random.Random:
        return random.Random(None if self.seed is None else self.seed * 1_000_003 + worker)


@dataclass(frozen=True, slots=True)
class Shard:
    worker: int
    start: int  # first fleet index (0-based) this worker simulates
    count: int


def default_workers(chargers: int) -> int:
    return max(1, math.ceil(chargers / CHARGERS_PER_WORKER))


def shards(chargers: int, workers: int) -> list[Shard]:
    """Split the fleet in contiguous, near-equal slices; never an empty worker."""
    workers = max(1, min(workers, chargers)) if chargers else 1
    base, extra = divmod(chargers, workers)
    out, start = [], 0
    for w in range(workers):
        count = base + (1 if w < extra else 0)
        out.append(Shard(w, start, count))
        start += count
    return out


def parse_id_pattern(pattern: str) -> str:
    try:
        a, b = pattern.format(n=1), pattern.format(n=2)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"--id-pattern {pattern!r} is not a valid pattern ({exc})",
            hint='use a Python format string with {n}, e.g. "CP{n:06d}"',
        ) from None
    if a == b:
        raise ConfigError(f"--id-pattern {pattern!r} gives every charger the same id", hint="include {n}")
    if not (identity.is_valid(a) and identity.is_valid(b)):
        raise ConfigError(f"--id-pattern {pattern!r} makes ids like {a!r}", hint=f"ids are {identity.GRAMMAR}")
    return pattern


def parse_addresses(spec: str | None) -> tuple[str, ...]:
    """ "127.0.0.2-127.0.0.60" or "127.0.0.2,127.0.0.3" (or a mix) -> every address, in order."""
    if not spec:
        return ()
    out: list[str] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if "-" in part:
                lo_s, hi_s = part.split("-", 1)
                lo, hi = ipaddress.IPv4Address(lo_s.strip()), ipaddress.IPv4Address(hi_s.strip())
                if hi < lo:
                    raise ValueError(f"{hi} is below {lo}")
                out.extend(str(ipaddress.IPv4Address(i)) for i in range(int(lo), int(hi) + 1))
            elif part:
                out.append(str(ipaddress.IPv4Address(part)))
    except ValueError as exc:
        raise ConfigError(
            f"--source-addresses {spec!r}: {exc}", hint="give a range like 127.0.0.2-127.0.0.60 or a comma list"
        ) from None
    return tuple(out)


def parse_session_minutes(spec: str) -> tuple[float, float]:
    """ "30" -> uniform 15..45 minutes; "5-10" -> uniform 5..10 minutes."""
    try:
        if "-" in spec.strip("-"):
            lo_s, hi_s = spec.split("-", 1)
            lo, hi = float(lo_s), float(hi_s)
        else:
            mean = float(spec)
            lo, hi = mean / 2, mean * 1.5
    except ValueError:
        raise ConfigError(
            f"--session-minutes {spec!r} is not a number or a range", hint='e.g. "30" or "5-10"'
        ) from None
    if lo <= 0 or hi < lo:
        raise ConfigError(f"--session-minutes {spec!r} must be positive, low <= high")
    return (lo, hi)


def validated(cfg: SimConfig) -> SimConfig:
    if cfg.chargers < 1:
        raise ConfigError("--chargers must be at least 1")
    if not cfg.url.startswith(("ws://", "wss://")):
        raise ConfigError(f"--url {cfg.url!r} is not a WebSocket URL", hint="e.g. ws://127.0.0.1:9000/ocpp")
    if cfg.reconnect not in ("immediate", "backoff"):
        raise ConfigError(f"--reconnect {cfg.reconnect!r}", hint="immediate or backoff")
    if cfg.connectors < 1:
        raise ConfigError("--connectors must be at least 1")
    if cfg.backoff_min <= 0 or cfg.backoff_max < cfg.backoff_min:
        raise ConfigError("--backoff-min must be > 0 and <= --backoff-max")
    if cfg.tx_attempts < 1:
        raise ConfigError("--tx-attempts must be at least 1")
    parse_id_pattern(cfg.id_pattern)
    return replace(cfg, url=cfg.url.rstrip("/"))
