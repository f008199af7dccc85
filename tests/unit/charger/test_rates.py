from envctl.charger.rates import PerSecond, merge, peak


def test_events_land_in_their_own_second_and_old_seconds_expire() -> None:
    rate = PerSecond(keep_s=10)
    for t in (100.1, 100.9, 101.0, 101.5, 101.99):
        rate.add(now=t)
    rate.add(5, now=111.2)  # 100 and 101 fall out of the 10 s window

    assert rate.series() == [[111, 5]]


def test_merge_sums_processes_by_second_so_a_steady_rate_stays_steady() -> None:
    # Two replicas, each closing 250/s: any second of the merged series is exactly 500.
    a, b = PerSecond(), PerSecond()
    for sec in range(200, 210):
        a.add(250, now=sec + 0.3)
        b.add(250, now=sec + 0.8)
    merged = merge(a.series(), b.series())

    assert set(merged.values()) == {500}
    assert peak(merged) == 500
    assert peak(merged, since=205, until=206) == 500
    assert peak(merged, since=300) == 0


def test_simulator_status_carries_exact_reconnects_per_second_across_workers() -> None:
    from envctl.charger.simulator.stats import WorkerStats, totals

    workers = [WorkerStats(worker=i, target=10) for i in range(2)]
    for i, w in enumerate(workers):
        for _ in range(3 + i):
            w.reconnects_per_second.add(now=1000.5)
        w.failures_per_second.add(now=1001.2)
    status = totals([w.snapshot([]) for w in workers], target=20)

    assert status["per_second"]["reconnects"] == [(1000, 7)]
    assert status["per_second"]["connect_failures"] == [(1001, 2)]
