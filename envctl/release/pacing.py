"""Pacing: one fleet-wide reconnect budget, kept across orchestrator restarts.

Every charger we disconnect reconnects at once (firmware does not back off), so the disconnect
rate *is* the reconnect rate the new version sees. One token bucket covers the whole fleet; its
state is plain data (tokens, when they were counted) persisted *before* each disconnect batch is
sent (write-ahead), so an orchestrator killed mid-batch and resumed can only under-spend, never
burst. The bucket's burst is a fraction of a second's worth, so a resume after a long pause gets
no saved-up credit either.

The bucket keeps the rate smooth; on top of it a sliding one-second window makes the budget a hard
ceiling: whatever the loop's stalls, no second ever sees more disconnects than the budget (a
bucket alone lets a stalled loop spend its burst on top of a full second's worth).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel


class BucketState(BaseModel):
    rate_per_s: float  # the budget; the effective rate is rate_per_s * factor
    burst: float
    tokens: float
    updated_at: float  # wall-clock seconds (persisted, so monotonic clocks do not survive a restart)
    factor: float = 1.0  # < 1 while the new version shows stress (AIMD)
    spent_total: int = 0
    window: list[tuple[float, int]] = []  # grants of the last WINDOW_S: (when, how many)

    @property
    def effective_rate(self) -> float:
        return self.rate_per_s * self.factor


BURST_S = 0.2
WINDOW_S = 1.0


def default_burst(rate_per_s: float) -> float:
    """A fifth of a second's worth (at least one token): room for the reconcile loop's jitter."""
    return max(1.0, rate_per_s * BURST_S)


BATCH_S = 0.02


def batch_size(state: BucketState) -> int:
    """How many tokens to wait for before sending a batch: small batches, because the one-second
    ceiling costs about one batch of throughput per second (a window can hold one batch more than
    the average), and a batch of 20 ms worth keeps that to ~2 %."""
    return max(1, int(state.effective_rate * BATCH_S))


def new_bucket(rate_per_s: float, now: float, burst: float | None = None) -> BucketState:
    # Start empty: a fresh release earns its first tokens instead of opening with a burst.
    return BucketState(rate_per_s=rate_per_s, burst=burst or default_burst(rate_per_s), tokens=0.0, updated_at=now)


def refill(state: BucketState, now: float) -> BucketState:
    elapsed = max(0.0, now - state.updated_at)  # a clock step backwards earns nothing
    tokens = min(state.burst, state.tokens + elapsed * state.effective_rate)
    return state.model_copy(update={"tokens": tokens, "updated_at": max(now, state.updated_at)})


def _ceiling(state: BucketState) -> int:
    return max(1, math.floor(state.effective_rate * WINDOW_S + 1e-9))


def _recent(state: BucketState, now: float) -> list[tuple[float, int]]:
    return [(t, n) for t, n in state.window if now - WINDOW_S < t <= now]


def take(state: BucketState, want: int, now: float) -> tuple[BucketState, int]:
    """Take up to `want` whole tokens; returns the new state and how many were granted."""
    state = refill(state, now)
    recent = _recent(state, now)
    room = _ceiling(state) - sum(n for _, n in recent)
    granted = max(0, min(want, math.floor(state.tokens + 1e-9), room))
    if granted:
        recent.append((now, granted))
    update = {"tokens": state.tokens - granted, "spent_total": state.spent_total + granted, "window": recent}
    return state.model_copy(update=update), granted


def seconds_until(state: BucketState, tokens: int, now: float) -> float:
    """How long until `tokens` whole tokens are available (capped by the burst) and the
    one-second window has room for them."""
    state = refill(state, now)
    need = min(float(tokens), state.burst) - state.tokens
    wait = need / max(state.effective_rate, 1e-9) if need > 0 else 0.0
    recent = _recent(state, now)
    excess = sum(n for _, n in recent) + min(tokens, _ceiling(state)) - _ceiling(state)
    for t, n in recent:  # oldest first: wait until enough of them have left the window
        if excess <= 0:
            break
        wait = max(wait, t + WINDOW_S - now + 1e-6)  # strictly past the window's edge
        excess -= n
    return wait


# -- stress control (additive increase, multiplicative decrease) -------------------------------

MIN_FACTOR = 0.1
RECOVERY_PER_S = 0.1  # of the budget, per second without stress


def adjust_for_stress(state: BucketState, stressed: bool, elapsed_s: float) -> BucketState:
    """Halve the rate when the new version shows stress, win it back slowly when it does not."""
    if stressed:
        factor = max(MIN_FACTOR, state.factor / 2)
    else:
        factor = min(1.0, state.factor + RECOVERY_PER_S * max(0.0, elapsed_s))
    return state.model_copy(update={"factor": factor})


# -- spreading a batch over replicas -------------------------------------------------------------


def split_proportionally(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split `total` disconnects over replicas by their connection counts (largest remainder).

    No replica gets more than it has, so the drain empties replicas evenly and finishes together.
    """
    positive = {k: w for k, w in weights.items() if w > 0}
    capacity = sum(positive.values())
    total = min(total, capacity)
    if total <= 0:
        return {}
    exact = {k: total * w / capacity for k, w in positive.items()}
    shares = {k: min(positive[k], math.floor(v)) for k, v in exact.items()}
    left = total - sum(shares.values())
    for k in sorted(positive, key=lambda k: (exact[k] - math.floor(exact[k]), positive[k], k), reverse=True):
        if left <= 0:
            break
        if shares[k] < positive[k]:
            shares[k] += 1
            left -= 1
    return {k: v for k, v in shares.items() if v > 0}
