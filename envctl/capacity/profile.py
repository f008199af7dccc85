"""A capacity profile: what one charger-server replica was *measured* to sustain.

`envctl bench capacity` writes it; `envctl capacity` reads it. Nothing in here is a guess: every
limit is the highest step of a step load at which the replica still answered with handler
p99 <= the bound, lost nothing and kept up with the offered rate. The steps themselves are kept so
a reader can see where the knee was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from envctl.errors import ConfigError, NotFound

KIND = "envctl.capacity/v1"


class Step(BaseModel):
    """One step of the load: a rate offered for a few seconds and what the replica did with it."""

    offered_per_s: float
    achieved_per_s: float
    handler_p99_ms: float | None  # from the replica's own histogram, over this step only
    within_bound_ratio: float | None  # share of handler observations at or under the p99 bound
    failures: int  # refused, closed or answered with an error by the replica
    skipped: int = 0  # work the generator could not offer (every charger still awaiting an answer)
    cpu_cores: float  # server CPU seconds per second during the step
    ok: bool
    why_not: str | None = None


class Limit(BaseModel):
    """The sustained rate of one kind of work, and what it cost the replica."""

    per_s: float
    cpu_s_per_op: float
    cpu_cores: float  # CPU the replica used at that rate: its limits hold with this much CPU
    steps: list[Step] = Field(default_factory=list)
    reached_ceiling: bool = False  # True: the load generator ran out before the replica did

    @property
    def measured(self) -> bool:
        return self.per_s > 0


class Memory(BaseModel):
    base_bytes: int  # RSS of the replica with no charger connected
    per_connection_bytes: int
    connections_measured: int


class CapacityProfile(BaseModel):
    kind: Literal["envctl.capacity/v1"] = KIND
    measured_at: str
    server_version: str
    database: str  # sqlite or postgresql: the store is part of what was measured
    p99_bound_ms: float
    connects: Limit  # handshake + BootNotification (committed before the answer) + the status reports
    heartbeats: Limit  # light messages: answered from memory
    durable_messages: Limit  # MeterValues: committed to the store before the answer
    memory: Memory
    connections_limit: int  # open files the replica may hold, minus those it holds idle
    connect_statuses: int = 3  # StatusNotifications each measured connect sent after its boot
    # Durable writes the store commits within the bound for the whole fleet, measured with
    # `shared_store_writers` replicas on it (None: a profile from before this was measured).
    shared_store: Limit | None = None
    shared_store_writers: int = 2
    conditions: dict[str, Any] = Field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> CapacityProfile:
        hint = f"measure one with `envctl bench capacity --report {path}`"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound(f"no capacity profile at {path}", hint) from None
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"capacity profile {path} is not readable JSON: {err}", hint) from None
        try:
            profile = cls.model_validate(data)
        except ValidationError as err:
            fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5])
            raise ConfigError(f"capacity profile {path} is not an {KIND} profile ({fields})", hint) from None
        unmeasured = [n for n in ("connects", "heartbeats", "durable_messages") if not getattr(profile, n).measured]
        if unmeasured:
            raise ConfigError(
                f"capacity profile {path} has no measured limit for {', '.join(unmeasured)} "
                f"(even the first step missed the p99 bound of {profile.p99_bound_ms:g} ms)",
                "measure again on a quieter machine, with lower --connect-start/--heartbeat-start/--durable-start, or a larger --p99-ms",
            )
        return profile
