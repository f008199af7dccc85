"""Worker numbers and how the parent folds them: histograms merge exactly, percentiles within a bucket."""

from __future__ import annotations

import random

from envctl.charger.simulator.stats import LogHistogram, WorkerStats, totals


def test_percentiles_are_within_one_bucket_and_max_is_exact() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(3, 1) for _ in range(20_000)]
    h = LogHistogram(0.05)
    for v in values:
        h.add(v)
    values.sort()
    for q in (0.5, 0.9, 0.99):
        exact = values[int(q * len(values)) - 1]
        assert exact <= h.percentile(q) <= exact * 1.09  # type: ignore[operator]
    assert h.max == values[-1] and h.percentile(1.0) == values[-1]
    assert LogHistogram(1).percentile(0.5) is None


def test_merged_workers_give_the_same_percentiles_as_one_histogram() -> None:
    a, b, both = LogHistogram(0.001), LogHistogram(0.001), LogHistogram(0.001)
    for i in range(1, 1001):
        (a if i % 2 else b).add(i / 10)
        both.add(i / 10)
    merged = LogHistogram(0.001)
    for h in (a, b):
        d = h.to_dict()
        merged.merge({str(k): v for k, v in d["counts"].items()}, d["max"])  # as they arrive over the pipe
    assert merged.percentile(0.99) == both.percentile(0.99) and merged.max == both.max == 100.0


def test_totals_sum_workers_and_count_ongoing_offline_spans() -> None:
    w0, w1 = WorkerStats(0, 3), WorkerStats(1, 2)
    w0.connected, w1.connected = 3, 1
    w0.connects_total, w1.connects_total = 5, 2
    w1.currently_offline = 1
    w0.offline_s.add(2.0)
    w0.call_latency_ms.add(10.0)
    body = totals([w0.snapshot([]), w1.snapshot([30.0])], target=5)
    assert body["target"] == 5 and body["connected"] == 4 and body["connects_total"] == 7
    assert body["offline"]["currently_offline"] == 1 and body["offline"]["max_s"] == 30.0  # still offline counts
    assert body["offline"]["episodes"] == 2
    assert body["call_latency_ms"]["p50"] == 10.0
    assert [w["worker"] for w in body["workers"]] == [0, 1]
