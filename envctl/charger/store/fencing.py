"""Which writes of a batch may still be applied: the epoch fence, decided inside the batch's transaction.

Both backends run the same steps in one database transaction per batch:

 1. the owner rows of every charger the batch touches are read (Postgres: locked, in charger-id
    order, so two replicas' batches never deadlock and a claim by another replica waits for this
    batch to commit; SQLite: BEGIN IMMEDIATE already holds the whole file). "Touches" includes the
    lazy writes (last seen, statuses, releases): every other row a batch writes belongs to a charger
    whose owner row it then holds, so no two batches can wait on each other's rows. Without them,
    a draining replica's flush (its chargers' last-seen rows, then their owner rows, released) and
    the new replica's claim (owner rows, then the chargers' rows, booted) locked the same two rows
    in opposite orders: PostgreSQL broke the deadlock after its deadlock_timeout of 1 s, and the new
    replicas' handler p99 crossed the release health check's 1 s mid-drain;
 2. the batch's claims are applied: each charger's last claim in the batch takes the next epoch,
    an earlier claim of the same charger in the same batch is superseded at once;
 3. a fenced write is applied only if its connection's epoch is the charger's current epoch.

So a write from a superseded connection is refused in the same transaction that would have
stored it, and a claim that takes a charger from another replica is ordered after every write
that replica committed for it: one charger, one history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envctl.charger.store.base import (
    BOOT,
    CLAIM,
    LAZY,
    METER,
    START,
    STOP,
    STOP_OTHER_CHARGER,
    STOP_REPEATED,
    STOP_STORED,
    STOP_UNKNOWN,
    Claim,
    Pending,
    StopRecord,
    Superseded,
    Takeover,
)

FENCED_KINDS = (BOOT, START, STOP, METER)
Outcome = tuple[bool, Any]  # (True, value) or (False, exception), aligned with the batch


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    claimed: dict[Claim, int] = field(default_factory=dict)  # set on the claims once committed
    takeovers: list[Takeover] = field(default_factory=list)  # to announce to the previous owners


@dataclass
class ClaimRound:
    winners: dict[str, Pending] = field(default_factory=dict)  # charger id -> the claim taking the epoch
    beaten: list[Pending] = field(default_factory=list)  # an older claim of the same charger in this batch


def split_claims(claims: list[Pending]) -> ClaimRound:
    out = ClaimRound()
    for p in claims:  # batch order is submission order: the last claim of a charger is the newest
        cid = p.item.charger_id
        earlier = out.winners.get(cid)
        if earlier is not None:
            out.beaten.append(earlier)
        out.winners[cid] = p
    return out


def touched_chargers(by_kind: dict[str, list[Pending]]) -> list[str]:
    """Every charger whose owner row the batch locks: claimed ones, those with fenced writes, and
    those of the lazy writes (step 1 says why)."""
    ids = {p.item.charger_id for p in by_kind[CLAIM]}
    for kind in FENCED_KINDS:
        ids.update(p.fence.charger_id for p in by_kind[kind] if p.fence is not None)
    for p in by_kind[LAZY]:
        flush = p.item
        ids.update(flush.seen)
        ids.update(status.charger_id for status, _ in flush.statuses)
        ids.update(charger for charger, _, _ in flush.releases)
    return sorted(ids)


def expected_epoch(fence: Claim, claimed: dict[Claim, int]) -> int | None:
    return claimed.get(fence, fence.epoch)


def admit(p: Pending, current: dict[str, int], claimed: dict[Claim, int]) -> bool:
    fence = p.fence
    if fence is None:
        return True
    expected = expected_epoch(fence, claimed)
    return expected is not None and current.get(fence.charger_id) == expected


def refusal(p: Pending, current: dict[str, int], claimed: dict[Claim, int]) -> Superseded:
    assert p.fence is not None
    return Superseded(p.fence.charger_id, expected_epoch(p.fence, claimed), current.get(p.fence.charger_id))


def admitted(pendings: list[Pending], current: dict[str, int], claimed: dict[Claim, int],
             refused: dict[int, Outcome]) -> list[Pending]:
    """The writes that pass the fence; each refused one gets its Superseded outcome in `refused`."""
    ok = []
    for p in pendings:
        if admit(p, current, claimed):
            ok.append(p)
        else:
            refused[id(p)] = (False, refusal(p, current, claimed))
    return ok


def epoch_of(p: Pending, claimed: dict[Claim, int]) -> int | None:
    """The epoch a written row records (None for unfenced writes: tools, tests, old rows)."""
    return None if p.fence is None else expected_epoch(p.fence, claimed)


def decide_stop(stop: StopRecord, targets: dict[int, tuple[str, int, bool]]) -> tuple[str, int]:
    """What a stop does, given {transaction id: (charger, connector, already stopped)}; updates targets
    so a second stop of the same transaction in one batch counts as repeated."""
    target = targets.get(stop.transaction_id)
    if target is None:
        return STOP_UNKNOWN, 0
    charger, connector, stopped = target
    if charger != stop.charger_id:
        return STOP_OTHER_CHARGER, connector
    if stopped:
        return STOP_REPEATED, connector
    targets[stop.transaction_id] = (charger, connector, True)
    return STOP_STORED, connector
