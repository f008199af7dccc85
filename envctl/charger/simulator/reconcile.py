"""The whole transaction history, the chargers' side (the ledger) against the server's database.

Every counter is a disagreement a user would call a bug, and each one can move (the tests delete,
alter and add rows behind the server's back and watch the matching counter change):

    lost                an acknowledged StartTransaction whose transactionId the server does not have
                        for that charger
    id_mismatch         the server's row under that id is another session (connector, idTag, start time)
    duplicated          server rows beyond the first for one acknowledged session: the same charger,
                        connector and start time stored again under another id
    phantom             server transactions no charger started (nor sent unanswered: a start
                        committed whose answer was lost is resent and maps onto it, so it is not one)
    stops_lost          an acknowledged StopTransaction whose stop the server does not have with the
                        same meterStop
    stops_phantom       server stops of transactions no charger stopped (nor sent a stop for)
    meter_values_lost   an acknowledged MeterValues sample the server does not have exactly (same
                        charger, transaction, connector, time, measurand/phase/location/context, value)
    meter_values_phantom  server samples no charger sent
    energy_mismatch_wh  per transaction, |charger's energy - server's energy|, in Wh, summed: by the
                        register (meterStop - meterStart) and by the last Energy.Active.Import.Register
                        sample (sample - meterStart); energy_mismatched_transactions counts them

"Acknowledged" is the charger's view: the server answered. Messages still queued or in flight
when the ledger was read are neither lost nor phantom. Server rows newer than the ledger's
horizon (read while the simulator still runs, its last second may not be flushed yet) are not
judged as phantom or duplicated; `too_recent_to_judge` counts them. So are server samples of a
MeterValues the ledger saw created but not yet sent: the ledger is read before the database, and
a sample timestamped before the horizon may go out after it (it waited in the charger's queue
behind another message); a 30,000-charger rehearsal counted 3 such samples as phantoms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from envctl.charger.simulator.ledger import LedgerSummary
from envctl.charger.simulator.ledger_keys import sample_key, ts, untransacted

ENERGY = "Energy.Active.Import.Register"


def _start_key(charger: str, connector: Any, id_tag: str, meter_start: Any, at: Any) -> tuple[Any, ...]:
    return (charger, int(connector), id_tag, int(meter_start), ts(at))


def reconcile(
    summary: LedgerSummary,
    server_transactions: Iterable[Mapping[str, Any]],
    server_samples: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """server_transactions: {charger, connector, id_tag, meter_start, timestamp, transaction_id} and,
    when stopped, meter_stop; server_samples: {charger, connector, transaction_id, ts, measurand,
    phase, location, context, value}. Without samples, the meter counters are left out."""
    rows = list(server_transactions)
    by_id: dict[Any, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["transaction_id"], []).append(r)
    out: dict[str, Any] = {"started": summary.started, "acknowledged": summary.acknowledged,
                           "pending": summary.pending}

    # starts ------------------------------------------------------------------------------------
    lost = mismatch = 0
    acked_ids: dict[Any, dict[str, Any]] = {}
    sessions: dict[tuple[Any, ...], Any] = {}  # (charger, connector, start time) -> our id
    for s in summary.acknowledged_starts:
        sessions[(s["charger"], int(s["connector"]), ts(s["timestamp"]))] = s["transaction_id"]
        found = [r for r in by_id.get(s["transaction_id"], []) if r["charger"] == s["charger"]]
        if not found:
            lost += 1
            continue
        acked_ids[s["transaction_id"]] = s
        r = found[0]
        if (int(r["connector"]), r["id_tag"], ts(r["timestamp"])) != (int(s["connector"]), s["id_tag"], ts(s["timestamp"])):
            mismatch += 1
    unanswered = {_start_key(k["charger"], k["connector"], k["id_tag"], k["meter_start"], k["timestamp"])
                  for k in summary.unacknowledged_starts}
    horizon = None if summary.horizon is None else ts(dt.datetime.fromtimestamp(summary.horizon, dt.UTC))
    recent = lambda at: horizon is not None and at is not None and ts(at) > horizon  # noqa: E731
    duplicated = phantom = too_recent = 0
    counted_ids: set[Any] = set()
    for r in rows:
        tid = r["transaction_id"]
        if tid not in acked_ids and recent(r["timestamp"]):
            too_recent += 1
            continue
        if tid in acked_ids and tid not in counted_ids:
            counted_ids.add(tid)
            continue
        if tid in acked_ids or (r["charger"], int(r["connector"]), ts(r["timestamp"])) in sessions:
            duplicated += 1  # the same session again: a second copy of our id, or another id
        elif _start_key(r["charger"], r["connector"], r["id_tag"], r["meter_start"], r["timestamp"]) not in unanswered:
            phantom += 1
    out |= {"lost": lost, "id_mismatch": mismatch, "duplicated": duplicated, "phantom": phantom}

    # stops -------------------------------------------------------------------------------------
    server_stop = {r["transaction_id"]: r for r in rows if r.get("meter_stop") is not None}
    stopped_by_charger = {(s["charger"], s["transaction_id"]) for s in summary.stop_attempts}
    stops_lost = 0
    for s in summary.acknowledged_stops:
        r = server_stop.get(s["transaction_id"])
        if r is None or r["charger"] != s["charger"] or int(r["meter_stop"]) != int(s["meter_stop"]):
            stops_lost += 1
    stops_phantom = sum(1 for tid, r in server_stop.items()
                        if (r["charger"], tid) not in stopped_by_charger and not recent(r.get("stopped_at")))
    out |= {"stops_lost": stops_lost, "stops_phantom": stops_phantom}

    # energy by the register --------------------------------------------------------------------
    mismatch_wh = 0
    mismatched: set[Any] = set()
    ours_stop = {s["transaction_id"]: s for s in summary.acknowledged_stops}
    for tid, s in acked_ids.items():
        stop, r = ours_stop.get(tid), server_stop.get(tid)
        if stop is None or r is None:
            continue  # an unstopped or lost stop: counted above, no energy to compare
        diff = abs((int(stop["meter_stop"]) - int(s["meter_start"])) - (int(r["meter_stop"]) - int(r["meter_start"])))
        if diff:
            mismatch_wh += diff
            mismatched.add(tid)

    # meter values ------------------------------------------------------------------------------
    if server_samples is not None:
        server: dict[tuple[Any, ...], str] = {}
        newest: set[tuple[Any, ...]] = set()
        for m in server_samples:
            key = sample_key(m["charger"], m["transaction_id"], m["connector"], m["ts"], m)
            server[key] = str(m["value"])
            if recent(m["ts"]):
                newest.add(key)
        sent = summary.sent_sample_keys
        meter_lost = 0
        last: dict[Any, tuple[str, tuple[Any, ...], str]] = {}  # tid -> (time, key, our value) of the last register
        for key, value in summary.acknowledged_samples:
            if server.get(key) != value:
                meter_lost += 1
            if key[4] == ENERGY and key[1] in acked_ids and (key[1] not in last or key[3] > last[key[1]][0]):
                last[key[1]] = (key[3], key, value)
        unsent = summary.unsent_sample_keys
        meter_phantom = 0
        for key in server:
            if key in sent or key in newest:
                continue
            if untransacted(key) in unsent:
                too_recent += 1  # sent after the ledger was read
            else:
                meter_phantom += 1
        for tid, (_, key, value) in last.items():
            theirs = server.get(key)
            r = by_id.get(tid, [None])[0]
            if theirs is None or r is None:
                continue  # a lost sample: counted above
            diff = abs((_wh(value) - int(acked_ids[tid]["meter_start"])) - (_wh(theirs) - int(r["meter_start"])))
            if diff:
                mismatch_wh += diff
                mismatched.add(tid)
        out |= {"meter_values_acknowledged": len(summary.acknowledged_samples), "meter_values_lost": meter_lost,
                "meter_values_phantom": meter_phantom}
    out |= {"energy_mismatch_wh": mismatch_wh, "energy_mismatched_transactions": len(mismatched),
            "too_recent_to_judge": too_recent}
    return out


def _wh(value: str) -> int:
    return round(float(value))
