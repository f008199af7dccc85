"""A finished release's transactions, checked: the simulator's ledger against the server's database.

Live, the page shows the ledger's own counters (acknowledged, queued, dropped). Once a release has
finished, the same reconciliation `envctl bench release` reports (lost, duplicated, ...) is run
once and kept in the release's journal. Only a runtime that runs the simulator itself (local)
has a ledger to check; elsewhere there is nothing to reconcile and the page says so.
"""

from __future__ import annotations

import logging
from typing import Any

from envctl.release.service import ReleaseContext

log = logging.getLogger(__name__)
LEDGER_EVENT = "dashboard_ledger"


def reconcile(ctx: ReleaseContext) -> dict[str, Any] | None:
    from envctl.bench import transactions
    from envctl.runtimes.local import EnvRecord, LocalRuntime

    runtime = getattr(ctx.fleet, "runtime", None)
    if not isinstance(runtime, LocalRuntime):
        return None
    try:
        record = EnvRecord.load(runtime.env_dir(ctx.env))
        if record.simulator is None:
            return None
        return transactions.count(record.simulator.ledger_dir, record.database_url)
    except Exception as err:  # the environment went away, or its database did: say so, do not fail the page
        log.info("ledger check for %s failed: %s", ctx.env, err)
        return {"error": f"{err.__class__.__name__}: {err}"}
