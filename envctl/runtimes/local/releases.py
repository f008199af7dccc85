"""What a local environment's releases mean for its lifecycle: `up` and `down` must not cut one
short, `down --force` aborts it first, and its history outlives the environment.

A release's documents live in `<env_dir>/releases/` (release/store.py). On `down` they move to
`<state_root>/history/releases/<name>/`, beside the environment's own journal (envs/history.py).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from envctl.envs import history
from envctl.errors import Refused, Timeout

ABORT_WAIT_S = 120.0


def running(env_dir: Path) -> list[tuple[str, str]]:
    """(plan id, phase) of every release that started and has not ended, oldest first."""
    from envctl.release.status import TERMINAL, release_phase
    from envctl.release.store import FileReleaseStore

    store = FileReleaseStore(env_dir / "releases")
    out = []
    for plan in store.list_plans():
        status = store.load_status(plan.id)
        if status is not None and (phase := release_phase(plan, status)) not in TERMINAL:
            out.append((plan.id, phase))
    return out


def refuse_while_running(
    name: str, env_dir: Path, verb: str, forcing: str | None = None, ignore: list[str] | None = None
) -> None:
    releases = [(plan_id, phase) for plan_id, phase in running(env_dir) if plan_id not in (ignore or [])]
    if not releases:
        return
    plan_id, phase = releases[-1]
    hint = f"wait for it (`envctl release status {plan_id} --env {name}`) or abort it (`envctl release abort {plan_id} --env {name}`)"
    raise Refused(
        f"release {plan_id} of {name} is in progress ({phase}); `{verb}` would cut it short",
        hint + (f", or {forcing}" if forcing else ""),
    )


def abort_and_wait(name: str, env_dir: Path, by: str, wait_s: float = ABORT_WAIT_S) -> list[str]:
    """Ask every running release to abort, then wait until no orchestrator drives one (its rollback
    done, or it was not running at all). Returns the plan ids aborted."""
    from envctl.release.status import Abort
    from envctl.release.store import FileReleaseStore

    store = FileReleaseStore(env_dir / "releases")
    ids = [plan_id for plan_id, _phase in running(env_dir)]
    for plan_id in ids:
        store.request_abort(plan_id, Abort(requested_at=time.time(), reason=f"`envctl down {name} --force`", by=by))
    deadline = time.monotonic() + wait_s
    for plan_id in ids:
        while True:
            try:
                with store.lease(plan_id, f"envctl down {name} --force"):
                    break  # nobody drives it any more
            except Refused:
                if time.monotonic() > deadline:
                    raise Timeout(
                        f"release {plan_id} of {name} is still rolling back after {wait_s:.0f} s",
                        f"watch it with `envctl release status {plan_id} --env {name}`; run `envctl down {name} "
                        "--force` again when it has stopped",
                    ) from None
                time.sleep(0.2)
    return ids


def archive(name: str, env_dir: Path, root: Path) -> Path | None:
    """Move the environment's release documents into its history; None when it had none."""
    source = env_dir / "releases"
    if not source.is_dir() or not any(source.iterdir()):
        return None
    dest = history.releases_dir(name, root)
    dest.mkdir(parents=True, exist_ok=True)
    for plan_dir in sorted(source.iterdir()):
        target = dest / plan_dir.name
        n = 1
        while target.exists():  # plan ids are unique; a hand-made --id may repeat across environments
            n += 1
            target = dest / f"{plan_dir.name}.{n}"
        shutil.move(str(plan_dir), str(target))
    return dest
