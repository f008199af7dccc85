"""`envctl capacity`'s core: the profile from where envctl.yaml says, the sizing, the optional PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envctl.capacity.arithmetic import Fleet, size
from envctl.capacity.profile import CapacityProfile
from envctl.config import load_config


def default_profile_path() -> Path:
    return load_config().capacity.profile


def answer(fleet: Fleet, profile_path: Path | None = None, plot_path: Path | None = None) -> dict[str, Any]:
    path = profile_path or default_profile_path()
    profile = CapacityProfile.load(path)
    sizing = size(fleet, profile)
    if plot_path is not None:
        from envctl.capacity import plot  # matplotlib only when a PNG is asked for

        plot.plot(fleet, profile, sizing, plot_path)
    return {
        **sizing.to_dict(),
        "fleet": {
            "chargers": fleet.chargers, "heartbeat_s": fleet.heartbeat_s, "session_rate": fleet.session_rate,
            "session_minutes": fleet.session_minutes, "meter_interval_s": fleet.meter_interval_s,
            "connectors": fleet.connectors, "spike": fleet.spike, "hold_s": fleet.hold_s,
        },
        "profile": {
            "path": str(path), "measured_at": profile.measured_at, "database": profile.database,
            "p99_bound_ms": profile.p99_bound_ms, "connects_per_s": profile.connects.per_s,
            "heartbeats_per_s": profile.heartbeats.per_s, "durable_messages_per_s": profile.durable_messages.per_s,
            "memory_per_connection_bytes": profile.memory.per_connection_bytes,
            "connections_limit": profile.connections_limit,
        },
        "plot": str(plot_path) if plot_path else None,
    }  # fmt: skip
