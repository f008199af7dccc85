"""Judging a step from two scrapes of the replica's own latency histogram."""

from __future__ import annotations

import pytest

from envctl.capacity.scrape import delta, fraction_within, handler_buckets, quantile
from envctl.charger.server.metrics import Metrics


def scrape_of(observations: dict[str, list[float]]) -> str:
    m = Metrics(lambda: 0)
    for action, values in observations.items():
        for v in values:
            m.message(action, v)
    return m.render().decode()


def test_the_real_metrics_text_parses_into_cumulative_buckets() -> None:
    buckets = handler_buckets(scrape_of({"Heartbeat": [0.0003] * 98 + [0.03, 0.3], "BootNotification": [0.004]}))
    hb = buckets["Heartbeat"]
    assert hb[-1] == (float("inf"), 100.0)
    assert dict(hb)[0.0005] == 98 and dict(hb)[0.05] == 99
    assert dict(buckets["BootNotification"])[0.005] == 1


def test_a_step_sees_only_its_own_observations() -> None:
    before = handler_buckets(scrape_of({"Heartbeat": [0.5] * 50}))["Heartbeat"]
    after = handler_buckets(scrape_of({"Heartbeat": [0.5] * 50 + [0.001] * 200}))["Heartbeat"]
    step = delta(after, before)
    assert step[-1][1] == 200
    assert fraction_within(step, 0.02) == 1.0  # the slow ones happened before the step


def test_fraction_within_is_exact_at_bucket_edges_and_interpolates_inside() -> None:
    b = [(0.01, 50.0), (0.02, 99.0), (0.05, 100.0), (float("inf"), 100.0)]
    assert fraction_within(b, 0.02) == pytest.approx(0.99)
    assert fraction_within(b, 0.015) == pytest.approx((50 + 49 * 0.5) / 100)
    assert fraction_within(b, 1.0) == 1.0
    assert fraction_within([(0.01, 0.0), (float("inf"), 0.0)], 0.02) is None


def test_quantile() -> None:
    b = [(0.01, 50.0), (0.02, 99.0), (0.05, 100.0), (float("inf"), 100.0)]
    assert quantile(b, 0.5) == pytest.approx(0.01)
    assert quantile(b, 0.99) == pytest.approx(0.02)
    assert quantile(b, 0.995) == pytest.approx(0.02 + 0.03 * 0.5)
    assert quantile([(0.01, 1.0), (float("inf"), 10.0)], 0.99) == 0.01  # in +Inf: the last finite edge
