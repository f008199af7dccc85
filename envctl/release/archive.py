"""A release's documents copied from one store to another: how release history outlives `down`.

On the local runtime `down` moves the files (runtimes/local/releases.py). On Kubernetes the
documents are ConfigMaps in the environment's namespace and die with it, so `down` first copies
every release (plan, approval, status, abort, journal) into the machine's history,
`<state_root>/history/releases/<name>/`, where `FileReleaseStore` reads them like any other.
"""

from __future__ import annotations

from envctl.release.store import ReleaseStore


def copy_releases(source: ReleaseStore, dest: ReleaseStore) -> list[str]:
    """Every release `source` holds, written into `dest`; returns the plan ids copied."""
    copied = []
    for plan in source.list_plans():
        dest.save_plan(plan)
        if (approval := source.load_approval(plan.id)) is not None:
            dest.save_approval(approval)
        if (status := source.load_status(plan.id)) is not None:
            dest.save_status(status)
        if (abort := source.load_abort(plan.id)) is not None:
            dest.request_abort(plan.id, abort)
        for event in source.events(plan.id):
            dest.append_event(plan.id, event)
        copied.append(plan.id)
    return copied
