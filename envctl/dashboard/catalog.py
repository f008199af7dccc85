"""Environments and releases as the dashboard shows them, read only through the core.

Environments come from envs/service.py (every runtime this machine can reach), releases from
release/service.py: whatever runtimes the release service learns (the Kubernetes release store
is on its way) appear here without a change, and until then its own refusal is shown as a note.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from envctl.envs import history
from envctl.envs import service as envs
from envctl.errors import EnvctlError, NotFound
from envctl.release import service as releases
from envctl.release.plan import ReleasePlan


@dataclass
class Listing:
    items: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def runtimes() -> list[str]:
    return ["local", "kubernetes"] if envs.cluster_configured() else ["local"]


def environments() -> Listing:
    out = Listing()
    for name in runtimes():
        try:
            out.items += [s.to_dict() for s in envs.get_runtime(name).list()]
        except EnvctlError as err:
            out.notes.append(f"{name} environments unavailable: {err.message}")
        except Exception as err:  # an unreachable cluster must not take the local list down with it
            out.notes.append(f"{name} environments unavailable: {err.__class__.__name__}: {err}")
    return out


def environment_history(name: str) -> list[dict[str, Any]]:
    return history.read(name)


class Catalog:
    """Release contexts, opened once per environment and kept (each holds an HTTP client)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, str], releases.ReleaseContext] = {}
        self._where: dict[str, tuple[str, str]] = {}  # plan id -> (env, runtime)

    def close(self) -> None:
        with self._lock:
            for ctx in self._contexts.values():
                _close(ctx)
            self._contexts.clear()

    def context(self, env: str, runtime: str) -> releases.ReleaseContext:
        key = (env, runtime)
        with self._lock:
            ctx = self._contexts.get(key)
        if ctx is None:
            ctx = releases.open_context(env, runtime)
            with self._lock:
                self._contexts[key] = ctx
        return ctx

    def forget(self, env: str, runtime: str) -> None:
        with self._lock:
            ctx = self._contexts.pop((env, runtime), None)
        if ctx is not None:
            _close(ctx)

    def releases(self, envs_listing: Listing | None = None) -> Listing:
        """Every plan of every environment, newest first, with its status summary."""
        listing = envs_listing or environments()
        out = Listing(notes=list(listing.notes))
        live = {(e["name"], e["runtime"]) for e in listing.items}
        for key in [k for k in self._contexts if k not in live]:
            self.forget(*key)
        refused: dict[str, str] = {}
        for env in listing.items:
            try:
                ctx = self.context(env["name"], env["runtime"])
                for plan in ctx.store.list_plans():
                    self._where[plan.id] = (env["name"], env["runtime"])
                    out.items.append(releases.status(ctx, plan.id) | {"created_at": plan.created_at.isoformat()})
            except EnvctlError as err:
                refused.setdefault(env["runtime"], err.message)
        out.notes += [f"releases on {rt} environments are not shown: {msg}" for rt, msg in refused.items()]
        out.items.sort(key=lambda r: r["created_at"], reverse=True)
        return out

    def find(self, plan_id: str) -> tuple[releases.ReleaseContext, ReleasePlan]:
        where = self._where.get(plan_id)
        if where is not None:
            try:
                ctx = self.context(*where)
                return ctx, ctx.store.load_plan(plan_id)
            except EnvctlError:
                self._where.pop(plan_id, None)
        self.releases()
        where = self._where.get(plan_id)
        if where is None:
            raise NotFound(f"no release {plan_id!r} in any environment", "see the releases page for the ones that exist")
        ctx = self.context(*where)
        return ctx, ctx.store.load_plan(plan_id)


def _close(ctx: releases.ReleaseContext) -> None:
    close = getattr(ctx.fleet, "close", None)
    if callable(close):
        close()
