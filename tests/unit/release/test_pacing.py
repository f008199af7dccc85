"""The fleet-wide token bucket: never above the budget, no burst after a resume, stress slows it."""

from __future__ import annotations

import random

from envctl.release import pacing


def drain(rate: float, seconds: float, step: float, start: float = 1000.0) -> list[tuple[float, int]]:
    state = pacing.new_bucket(rate, start)
    t, grants = start, []
    while t < start + seconds:
        state, n = pacing.take(state, 10_000, t)
        if n:
            grants.append((t, n))
        t += step
    return grants


def max_in_window(grants: list[tuple[float, int]], window: float) -> int:
    best = 0
    for i, (t0, _) in enumerate(grants):
        best = max(best, sum(n for t, n in grants[i:] if t < t0 + window))
    return best


def test_rate_matches_budget_and_no_one_second_window_exceeds_it_beyond_burst() -> None:
    for rate in (50.0, 137.0, 200.0):
        grants = drain(rate, 20.0, 0.013)
        total = sum(n for _, n in grants)
        assert abs(total / 20.0 - rate) / rate < 0.02
        assert max_in_window(grants, 1.0) <= rate


def test_no_one_second_window_ever_exceeds_the_budget_even_when_the_loop_stalls() -> None:
    """The engine loop stalls now and then (GC, a slow replica): the catch-up must not make any
    second busier than the budget."""
    rng = random.Random(7)
    for rate in (50.0, 500.0):
        state, t, grants, next_stall = pacing.new_bucket(rate, 0.0), 0.0, [], 1.0
        while t < 30.0:
            state, n = pacing.take(state, 10_000, t)
            if n:
                grants.append((t, n))
            t += pacing.seconds_until(state, pacing.batch_size(state), t) + rng.uniform(0.0, 0.02)
            if t >= next_stall:  # a stall of 0.3-0.45 s every 2-3 s
                t += rng.uniform(0.3, 0.45)
                next_stall = t + rng.uniform(2.0, 3.0)
        total = sum(n for _, n in grants)
        assert max_in_window(grants, 1.0) <= rate
        assert total / t > rate * 0.9  # stalls cost a little throughput, never the ceiling


def test_a_fresh_bucket_starts_empty() -> None:
    state = pacing.new_bucket(100.0, 0.0)
    _, granted = pacing.take(state, 1000, 0.0)
    assert granted == 0


def test_resume_after_a_long_pause_gets_at_most_one_burst() -> None:
    state = pacing.new_bucket(100.0, 0.0)
    state, _ = pacing.take(state, 1000, 1.0)
    # The orchestrator was dead for an hour; the persisted state is reloaded.
    reloaded = pacing.BucketState.model_validate(state.model_dump())
    _, granted = pacing.take(reloaded, 100_000, 3600.0)
    assert granted <= reloaded.burst


def test_clock_stepping_backwards_earns_nothing() -> None:
    state = pacing.new_bucket(100.0, 100.0)
    state, _ = pacing.take(state, 1000, 101.0)
    state, granted = pacing.take(state, 1000, 50.0)
    assert granted == 0


def test_stress_halves_then_recovers_gradually() -> None:
    state = pacing.new_bucket(100.0, 0.0)
    state = pacing.adjust_for_stress(state, True, 1.0)
    assert state.effective_rate == 50.0
    state = pacing.adjust_for_stress(state, True, 1.0)
    assert state.effective_rate == 25.0
    state = pacing.adjust_for_stress(state, False, 1.0)
    assert 34.0 < state.effective_rate < 36.0
    for _ in range(20):
        state = pacing.adjust_for_stress(state, False, 1.0)
    assert state.effective_rate == 100.0
    for _ in range(20):
        state = pacing.adjust_for_stress(state, True, 1.0)
    assert state.effective_rate == 100.0 * pacing.MIN_FACTOR


def test_a_slowed_bucket_spends_at_the_slowed_rate() -> None:
    state = pacing.adjust_for_stress(pacing.new_bucket(100.0, 0.0), True, 1.0)
    t, total = 0.0, 0
    while t < 10.0:
        state, n = pacing.take(state, 1000, t)
        total += n
        t += 0.05
    assert 450 <= total <= 500 + state.burst


def test_split_is_proportional_exact_and_within_capacity() -> None:
    rng = random.Random(7)
    for _ in range(500):
        weights = {f"r{i}": rng.randint(0, 300) for i in range(rng.randint(1, 6))}
        total = rng.randint(0, 400)
        shares = pacing.split_proportionally(total, weights)
        assert sum(shares.values()) == min(total, sum(weights.values()))
        for k, v in shares.items():
            assert 0 < v <= weights[k]
            granted = min(total, sum(weights.values()))
            assert abs(v - granted * weights[k] / sum(weights.values())) <= 1


def test_split_spreads_over_replicas_by_connections() -> None:
    assert pacing.split_proportionally(10, {"a": 300, "b": 100, "c": 0}) in ({"a": 8, "b": 2}, {"a": 7, "b": 3})
    assert pacing.split_proportionally(4, {"a": 100, "b": 100, "c": 100, "d": 100}) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_a_slow_reconcile_loop_still_gets_the_whole_budget() -> None:
    """The engine waits for a batch, then spends 0.09 s on HTTP and disk each time (a very slow
    loop): the burst keeps the tokens earned meanwhile; only the hard one-second ceiling costs a
    little (a window can hold one batch more than the average, so that batch waits)."""
    rate, t, total = 100.0, 0.0, 0
    state = pacing.new_bucket(rate, t)
    while t < 20.0:
        t += pacing.seconds_until(state, pacing.batch_size(state), t) + 0.09  # the loop's own overhead
        state, n = pacing.take(state, 10_000, t)
        total += n
    assert total / t > rate * 0.9
