"""Preview lifecycle for one pull request, reported on GitHub. Calls only envctl.envs.service.

Each method is idempotent, so a resumed or retried job may run it again: up converges, down is a
no-op the second time, and reporting goes through PullUpdater (edit in place, find-or-create).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from envctl.envs import service
from envctl.envs.model import EnvSpec, EnvStatus, utcnow
from envctl.errors import EnvctlError, NotFound
from envctl.github import markdown
from envctl.github.markdown import PreviewView, State
from envctl.github.pull_updater import PullUpdater
from envctl.github.result import Result, error, failure, success
from envctl.github.settings import PreviewPolicy
from envctl.runtimes.base import Runtime

log = logging.getLogger("envctl.github.previews")

RuntimeFactory = Callable[[str | None], Runtime]
Clock = Callable[[], datetime]

_PHASE_STATE: dict[str, State] = {
    "Ready": "ready", "Degraded": "degraded", "Failed": "failed", "Stopped": "stopped",
    "Pending": "starting", "Starting": "starting",
}  # fmt: skip


@dataclass
class PullTarget:
    repo: str
    number: int
    updater: PullUpdater


def environment_url(status: EnvStatus) -> str | None:
    endpoints = status.endpoints or {}
    return endpoints.get("admin") or endpoints.get("ocpp") or None


class Previews:
    def __init__(self, policy: PreviewPolicy, runtime_factory: RuntimeFactory = service.get_runtime,
                 clock: Clock = utcnow) -> None:
        self.policy = policy
        self.runtime_factory = runtime_factory
        self.clock = clock

    def env_name(self, number: int) -> str:
        return f"{self.policy.name_prefix}{number}"

    def runtime(self) -> Runtime:
        return self.runtime_factory(self.policy.runtime)

    def exists(self, number: int) -> bool:
        try:
            self.runtime().status(self.env_name(number))
        except NotFound:
            return False
        return True

    def _view(self, pr: PullTarget, state: State, **kw: object) -> str:
        return markdown.render_preview(
            PreviewView(pr=pr.number, env=self.env_name(pr.number), state=state, now=self.clock(), **kw)  # type: ignore[arg-type]
        )

    def up(self, pr: PullTarget, sha: str, requested_by: str | None, chargers: int | None = None,
           ttl: timedelta | None = None, note: str | None = None) -> Result:
        name = self.env_name(pr.number)
        notes = (note,) if note else ()
        deployment = pr.updater.start_deployment(name, sha, f"envctl preview {name} starting")
        pr.updater.upsert_sticky(self._view(pr, "starting", sha=sha, requested_by=requested_by, notes=notes))
        try:
            runtime = self.runtime()
            spec = EnvSpec(
                name=name, runtime=runtime.name, chargers=self.policy.chargers if chargers is None else chargers,  # type: ignore[arg-type]
                pr=pr.number, ttl=ttl or self.policy.default_ttl(), owner=requested_by, commit_sha=sha,
            )  # fmt: skip
            status = runtime.up(spec)
        except EnvctlError as err:
            message = err.message + (f"\n\nhint: {err.hint}" if err.hint else "")
            pr.updater.finish_deployment(deployment, False, err.message)
            pr.updater.upsert_sticky(self._view(pr, "failed", sha=sha, requested_by=requested_by, message=message))
            return failure(f"{name}: {err.message}")
        except Exception as err:  # a bug below us: say so on the PR, keep the traceback in our log
            log.exception("preview %s failed unexpectedly", name)
            pr.updater.finish_deployment(deployment, False, "internal error")
            pr.updater.upsert_sticky(self._view(
                pr, "failed", sha=sha, requested_by=requested_by,
                message=f"internal error ({type(err).__name__}); the envctl operators have the details",
            ))  # fmt: skip
            return error(f"{name}: {type(err).__name__}: {err}")
        url = environment_url(status)
        pr.updater.finish_deployment(deployment, True, f"{status.chargers_connected} chargers connected", url)
        pr.updater.upsert_sticky(self._view(
            pr, "ready", sha=sha, requested_by=requested_by, status=status.to_dict(), environment_url=url, notes=notes,
        ))  # fmt: skip
        return success(f"{name} ready at {sha[:12]}")

    def down(self, pr: PullTarget, reason: str, requested_by: str | None = None) -> Result:
        name = self.env_name(pr.number)
        try:
            removed = self.runtime().down(name)
        except EnvctlError as err:
            pr.updater.upsert_sticky(self._view(pr, "failed", message=f"teardown failed: {err.message}"))
            return failure(f"{name}: {err.message}")
        deactivated = pr.updater.deactivate(name, f"torn down: {reason}")
        if not removed and not deactivated and pr.updater.find_sticky() is None:
            return success(f"{name}: nothing to tear down")
        pr.updater.upsert_sticky(self._view(pr, "stopped", requested_by=requested_by, notes=(f"Reason: {reason}.",)))
        return success(f"{name} torn down ({reason})")

    def status(self, pr: PullTarget) -> Result:
        name = self.env_name(pr.number)
        try:
            status = self.runtime().status(name)
        except NotFound:
            pr.updater.upsert_sticky(self._view(pr, "missing", notes=("Start one with `/preview up`.",)))
            return success(f"{name}: no preview")
        state = _PHASE_STATE.get(status.phase, "starting")
        pr.updater.upsert_sticky(self._view(
            pr, state, status=status.to_dict(), environment_url=environment_url(status), message=status.message,
        ))  # fmt: skip
        return success(f"{name}: {status.phase}")

    def stale(self, pr: PullTarget, new_sha: str, from_fork: bool = True) -> Result:
        name = self.env_name(pr.number)
        try:
            status = self.runtime().status(name)
        except NotFound:
            return success(f"{name}: no preview to mark stale")
        pr.updater.upsert_sticky(self._view(
            pr, "stale", status=status.to_dict(), environment_url=environment_url(status),
            notes=((f"New commits ({markdown.inline(new_sha[:12])}) come from a fork and are not deployed "
                    "automatically. A collaborator with write access can review them and run `/preview up`.")
                   if from_fork else
                   (f"New commits ({markdown.inline(new_sha[:12])}): the preview still runs the commit that was "
                    "asked for. Run `/preview up` to deploy the new head."),),
        ))  # fmt: skip
        return success(f"{name}: marked stale at {new_sha[:12]}")

    def extend(self, pr: PullTarget, by: timedelta) -> Result:
        name = self.env_name(pr.number)
        extend = getattr(service, "extend", None)
        if extend is None:
            return failure("extending a preview is not available in this envctl version yet")
        try:
            status = extend(name, by, runtime=self.policy.runtime)
        except EnvctlError as err:
            return failure(err.message + (f" ({err.hint})" if err.hint else ""))
        self.status(pr)
        return success(f"{name}: extended to {status.expires_at}")
