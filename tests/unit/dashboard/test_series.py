"""The chart's arithmetic: exact per-second sums across replicas, and the journal fallback."""

from __future__ import annotations

from envctl.dashboard import series


def test_rates_are_summed_by_second_across_replicas_with_gaps_as_zero() -> None:
    r1 = [[100, 5], [101, 7], [103, 1]]
    r2 = [[101, 3], [102, 4]]
    sim_failures = [[102, 2]]
    points = series.rate_points([r1, r2], sim_failures, 100, 104)
    assert points == [[100, 5, 0], [101, 10, 0], [102, 4, 2], [103, 1, 0], [104, 0, 0]]


def test_without_a_simulator_failures_are_unknown_not_zero() -> None:
    assert series.rate_points([[[10, 1]]], None, 10, 11) == [[10, 1, None], [11, 0, None]]
    assert series.rate_points([], None, 5, 4) == []


def test_a_second_is_final_only_two_seconds_later() -> None:
    assert series.settled_until(1000.9) == 998


def test_connections_are_split_by_the_plans_old_replicas() -> None:
    stats = {
        "r1": {"connections": 40, "version": "v1"},
        "r2": {"connections": 10, "version": "v1"},
        "r3": {"connections": 25, "version": "v2"},
        "r4": {},  # retired: no answer
        "r5": {"connections": 7, "version": "v9"},  # neither side of this release
    }
    assert series.split_by_version(stats, {"r1", "r2"}, "v2") == (50, 25)


def test_the_journal_timeline_becomes_rates_on_epoch_seconds() -> None:
    journal = {"seconds": [{"t": 0, "forward": 4, "back": 0}, {"t": 1, "forward": 0, "back": 0}, {"t": 2, "forward": 1, "back": 2}]}
    assert series.journal_rates(journal, 100.7) == [[100, 4, None], [101, 0, None], [102, 3, None]]
    assert series.journal_rates({"seconds": []}, 5.0) == []


def test_dedupe_keeps_the_last_point_per_time_and_peak_ignores_unknowns() -> None:
    assert series.dedupe([[2, 1], [1, 5], [2, 3]]) == [[1, 5], [2, 3]]
    assert series.peak([[1, 4, None], [2, 9, 0], [3, 2, 1]]) == 9
    assert series.peak([[1, 0, None]], column=2) == 0


def test_a_replica_missing_one_sample_keeps_its_chargers_for_a_while() -> None:
    last: dict = {}
    first = series.fill_unanswered({"r1": {"connections": 10}, "r2": {"connections": 5}}, last, 100.0)
    assert series.split_by_version(first, {"r1", "r2"}, "v2") == (15, 0)
    stalled = series.fill_unanswered({"r1": {"connections": 9}, "r2": {}}, last, 103.0)
    assert series.split_by_version(stalled, {"r1", "r2"}, "v2") == (14, 0)  # r2's last answer stands in
    gone = series.fill_unanswered({"r1": {"connections": 9}, "r2": {}}, last, 100.0 + series.STALE_AFTER_S + 0.1)
    assert series.split_by_version(gone, {"r1", "r2"}, "v2") == (9, 0)  # too long: taken as gone


def test_a_replica_the_release_retired_counts_nothing_at_once() -> None:
    last: dict = {}
    series.fill_unanswered({"r1": {"connections": 8}, "r3": {"connections": 22}}, last, 100.0)
    after = series.fill_unanswered({"r1": {}, "r3": {"connections": 30, "version": "v2"}}, last, 101.0, retired=frozenset({"r1"}))
    assert series.split_by_version(after, {"r1"}, "v2") == (0, 30)  # not its last answer, taken before its final drain
