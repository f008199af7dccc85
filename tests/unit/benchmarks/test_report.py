"""The one percentile rule every benchmark report uses (benchmarks/report.py)."""

import json

import pytest

from benchmarks.report import percentile, summary, write_report


def test_percentile_is_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.99) == 5.0
    assert percentile(values, 0.2) == 1.0  # 1 of 5 samples at or below it
    assert percentile(values, 0.21) == 2.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile(values, 50)  # a percent, not a fraction: refused, not silently the max


def test_summary_scales_and_counts():
    s = summary([0.001, 0.002, 0.010], scale=1000, ndigits=1)
    assert s == {"n": 3, "min": 1.0, "p50": 2.0, "p90": 10.0, "p95": 10.0, "p99": 10.0, "max": 10.0}
    assert summary([])["p99"] is None


def test_write_report_creates_parents(tmp_path, capsys):
    out = tmp_path / "deep" / "r.json"
    write_report(out, {"x": 1})
    assert json.loads(out.read_text()) == {"x": 1}
    assert '"x": 1' in capsys.readouterr().out
