"""What the dashboard's buttons do: the core's own functions, with the actor written down.

Aborting only sets the release's abort flag, as `envctl release abort` does; the orchestrator
driving the release reads it and rolls back at the budget. When no orchestrator holds the
release's lease (it was killed, or the release was started elsewhere and left), the dashboard
drives the rollback itself, in the background, exactly as `envctl release abort` would.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from envctl.dashboard.catalog import Catalog, environments
from envctl.envs import service as envs
from envctl.envs.model import parse_duration
from envctl.envs.ttl import format_time
from envctl.errors import ConfigError, NotFound, Refused
from envctl.release import service as releases

log = logging.getLogger(__name__)
VIA = "dashboard"
LEASE_VERDICT_S = 1.0


def abort(catalog: Catalog, plan_id: str, actor: str, reason: str) -> dict[str, Any]:
    ctx, _plan = catalog.find(plan_id)
    flag = releases.abort(ctx, plan_id, reason or "aborted from the dashboard", actor)
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def roll_back() -> None:
        try:
            releases.resume(ctx, plan_id)
            outcome["driver"] = "dashboard"
        except Refused:
            outcome["driver"] = "orchestrator"  # it holds the lease and reads the flag itself
        except Exception:
            outcome["driver"] = "dashboard"
            log.exception("rolling back %s from the dashboard failed", plan_id)
        finally:
            finished.set()

    threading.Thread(target=roll_back, name=f"rollback-{plan_id}", daemon=True).start()
    # A lease held elsewhere is refused at once; a rollback driven here takes seconds at least.
    finished.wait(LEASE_VERDICT_S)
    note = ("the running orchestrator rolls back" if outcome.get("driver") == "orchestrator"
            else "no orchestrator was running: the dashboard rolls back")  # fmt: skip
    return {"plan_id": plan_id, "abort": flag.model_dump(), "note": note}


def _runtime_of(name: str, runtime: str | None) -> str:
    if runtime:
        return runtime
    found = [e["runtime"] for e in environments().items if e["name"] == name]
    if not found:
        raise NotFound(f"no environment named {name!r}", "see the environments page")
    if len(found) > 1:
        raise ConfigError(f"{name!r} exists on several runtimes ({', '.join(found)})", 'say which: {"runtime": "local"}')
    return found[0]


def extend(name: str, by: str, actor: str, runtime: str | None = None) -> dict[str, Any]:
    duration = parse_duration(by)  # ConfigError before anything changes
    status = envs.extend(name, duration, runtime=_runtime_of(name, runtime), actor=actor, via=VIA)
    expires = format_time(status.expires_at) if status.expires_at else None
    return {"name": name, "expires_at": expires, "extended_by": by, "actor": actor}


def down(catalog: Catalog, name: str, actor: str, runtime: str | None = None) -> dict[str, Any]:
    chosen = _runtime_of(name, runtime)
    catalog.forget(name, chosen)
    removed = envs.down(name, runtime=chosen, actor=actor, via=VIA)
    return {"name": name, "removed": removed, "actor": actor}
