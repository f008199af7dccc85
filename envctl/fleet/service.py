"""The front door of `envctl scale` and `envctl rebalance` (CLI today; the webhook and CI could call
the same functions): it picks the runtime's fleet, checks that nothing else is moving chargers,
and runs the mover.

Guards, each a Refused with what to do:
- a release in progress on the environment (it moves chargers itself, and its old replicas
  deliberately do not listen);
- a replica draining itself (its preStop hook or `POST /admin/drain` sets its own pace);
- another scale or rebalance holding the environment's move lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator

from envctl.envs.service import default_runtime
from envctl.errors import ConfigError, Refused
from envctl.fleet.mover import MoveOptions, MoveReport, Mover, Progress, _no_progress, spread_pct
from envctl.fleet.scale_result import ScaleResult
from envctl.release.fleet import ReplicaView
from envctl.release.fleets.local import LocalFleet
from envctl.release.status import TERMINAL, release_phase
from envctl.release.hints import release_cmd
from envctl.release.store import FileReleaseStore
from envctl.runtimes.base import Progress as StartProgress
from envctl.runtimes.base import no_progress
from envctl.runtimes.local import LocalRuntime


@contextlib.contextmanager
def _move_lock(runtime: LocalRuntime, env: str) -> Iterator[None]:
    path = runtime.env_dir(env) / "fleet-move.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                f"another `envctl scale` or `envctl rebalance` is moving chargers in {env}",
                "wait for it to finish; only one move at a time keeps the reconnect budget fleet-wide",
            ) from None
        yield


def _check_no_release(runtime: LocalRuntime, env: str) -> None:
    store = FileReleaseStore(runtime.env_dir(env) / "releases")
    for plan in store.list_plans():
        status = store.load_status(plan.id)
        if status is not None and (phase := release_phase(plan, status)) not in TERMINAL:
            raise Refused(
                f"release {plan.id} is in progress in {env} ({phase})",
                f"wait for it to finish ({release_cmd('status', plan.id, env, 'local')}) or abort it; a release moves chargers itself",
            )


def _serving(fleet: LocalFleet, env: str) -> list[ReplicaView]:
    views = [v for v in fleet.replicas() if v.alive]
    draining = [v.id for v in views if v.draining]
    if draining:
        raise Refused(
            f"replica {', '.join(draining)} of {env} is draining itself",
            "wait until it has stopped; its drain sets its own pace",
        )
    if not views:
        raise Refused(f"no charger-server replica of {env} is running", f"see `envctl status {env} --runtime local`")
    return views


@contextlib.contextmanager
def _moving(env: str) -> Iterator[tuple[LocalRuntime, LocalFleet, list[ReplicaView]]]:
    """The environment's runtime, fleet and serving replicas, with every guard passed and the
    move lock held for as long as the caller moves chargers."""
    runtime = LocalRuntime()
    runtime.status(env)  # NotFound, with a hint, when there is no such environment
    fleet = LocalFleet(runtime, env)
    try:
        with _move_lock(runtime, env):
            _check_no_release(runtime, env)
            yield runtime, fleet, _serving(fleet, env)
    finally:
        fleet.close()


def rebalance(
    env: str, options: MoveOptions, progress: Progress = _no_progress, stop: threading.Event | None = None,
    runtime: str | None = None,
) -> MoveReport:  # fmt: skip
    """Move chargers from the fullest replicas to the emptiest until all are within the tolerance."""
    _only_local(runtime, "rebalance")
    with _moving(env) as (_rt, fleet, views):
        return Mover(fleet, options, progress=progress, stop=stop).run([v.id for v in views])


def scale(
    env: str, replicas: int, options: MoveOptions, *, then_rebalance: bool = False,
    progress: Progress = _no_progress, stop: threading.Event | None = None, runtime: str | None = None,
    starting: StartProgress = no_progress,
) -> ScaleResult:  # fmt: skip
    """`starting` hears (what, done, total) as each new replica starts; `progress` the mover's moves."""
    if replicas < 1:
        raise ConfigError(f"--replicas must be at least 1, got {replicas}", f"to remove the environment: `envctl down {env}`")
    if (runtime or default_runtime()) == "kubernetes":
        from envctl.fleet import kubernetes

        return kubernetes.scale(env, replicas)
    _only_local(runtime, "scale")
    with _moving(env) as (rt, fleet, views):
        result = ScaleResult(env=env, runtime="local", replicas_before=len(views), replicas=replicas)
        if replicas > len(views):
            rt.check_replicas(replicas, int(rt.status(env).chargers_target))
            newest = max(rt.server_replicas(env), key=lambda r: r.started_at)
            adding = replicas - len(views)
            for i in range(adding):
                if stop is not None and stop.is_set():
                    result.note = f"stopped after starting {i} of {adding} replicas"
                    break
                starting(f"starting replica {i + 1}/{adding}", i, adding)
                result.started.append(rt.start_server_replica(env, newest.version, newest.extra_args).id)
            starting(f"started {len(result.started)}/{adding} replicas", len(result.started), adding)
            result.replicas = len(views) + len(result.started)
        elif replicas < len(views):
            # The emptiest go (fewest chargers to move), the newest first among equals.
            order = sorted(views, key=lambda v: (v.connections, -_ordinal(v.id)))
            leaving = [v.id for v in order[: len(views) - replicas]]
            staying = [v.id for v in views if v.id not in leaving]
            result.drain = Mover(fleet, options, progress=progress, stop=stop).run(staying, leaving)
            if result.drain.aborted is not None:
                result.note = f"scale-down stopped before retiring any replica: {result.drain.aborted}"
                result.replicas = len(views)
                return result
            for rid in leaving:
                rt.stop_server_replica(env, rid)
                result.retired.append(rid)
        serving = [v for v in fleet.replicas() if v.alive]
        if then_rebalance:
            result.rebalance = Mover(fleet, options, progress=progress, stop=stop).run([v.id for v in serving])
        result.spread_pct = spread_pct([v.connections for v in fleet.replicas() if v.alive])
        return result


def _ordinal(replica_id: str) -> int:
    digits = "".join(ch for ch in replica_id if ch.isdigit())
    return int(digits) if digits else 0


def _only_local(runtime: str | None, verb: str) -> None:
    runtime = runtime or default_runtime()
    if runtime != "local":
        if runtime == "kubernetes":
            raise ConfigError(
                f"`envctl {verb}` moves chargers through the replicas' admin API, which the Kubernetes "
                "runtime does not expose to envctl yet",
                "on Kubernetes, `envctl scale` changes the Deployment and the pods' preStop hook drains at "
                "kubernetes.drain.rate_per_s",
            )
        raise ConfigError(f"unknown runtime {runtime!r}", "use --runtime local or --runtime kubernetes")

