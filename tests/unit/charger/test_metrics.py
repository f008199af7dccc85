from __future__ import annotations

from envctl.charger.server.metrics import Histogram, Metrics, RecentWindow


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram((0.01, 0.1))
    for v in (0.005, 0.01, 0.05, 5.0):
        h.observe(v)
    assert h.cumulative() == [("0.01", 2.0), ("0.1", 3.0), ("+Inf", 4.0)]
    assert h.count == 4 and abs(h.sum - 5.065) < 1e-9


def test_recent_window_percentile_ignores_old_samples() -> None:
    w = RecentWindow(size=100, window_s=10)
    for i in range(100):
        w.observe(i / 1000, now=1000.0)
    assert w.percentile(0.99, now=1005.0) == 0.099
    assert w.percentile(0.5, now=1005.0) == 0.05
    assert w.percentile(0.99, now=2000.0) is None
    assert w.percentile_of(0.99, now=1005.0) == (0.099, 100) and w.percentile_of(0.99, now=2000.0) == (None, 0)
    for i in range(50):  # ring wraps: the oldest samples are overwritten
        w.observe(1.0, now=1990.0)
    assert w.percentile(0.5, now=1995.0) == 1.0


def test_metrics_render_prometheus_text() -> None:
    m = Metrics(lambda: 3)
    m.message("Heartbeat", 0.001)
    m.callerror("FormationViolation")
    m.commit(10, 0.002, [0.003] * 10)
    text = m.render().decode()
    assert "envctl_ocpp_connected_chargers 3.0" in text
    assert 'envctl_ocpp_messages_total{action="Heartbeat"} 1.0' in text
    assert 'envctl_ocpp_callerrors_total{code="FormationViolation"} 1.0' in text
    assert "envctl_db_write_wait_seconds_count 10.0" in text
    s = m.summary()
    assert s["messages_total"] == 1 and s["callerrors_total"] == 1 and s["handler_p99_ms"] == 1.0
    assert s["handler_p99_samples"] == 1
