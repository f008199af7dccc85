"""What every benchmark report shares: one percentile rule, summaries, the machine, the JSON file.

Percentiles are nearest-rank (the smallest sample with at least q of all samples at or below it),
the rule a reader can check by hand on a sorted list; reports written before this module (under
benchmarks/results/) used slightly different rules, which matters only on very small samples.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, q in [0, 1]; None for no samples."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile q must be within [0, 1], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float], *, scale: float = 1.0, ndigits: int = 3) -> dict[str, float | int | None]:
    """n, min, p50, p90, p95, p99 and max of `values` times `scale` (1000 turns seconds into ms)."""
    scaled = [v * scale for v in values]

    def at(q: float) -> float | None:
        p = percentile(scaled, q)
        return None if p is None else round(p, ndigits)

    return {"n": len(scaled), "min": round(min(scaled), ndigits) if scaled else None, "p50": at(0.5),
            "p90": at(0.9), "p95": at(0.95), "p99": at(0.99),
            "max": round(max(scaled), ndigits) if scaled else None}


def machine(**extra: Any) -> dict[str, Any]:
    """The conditions a report was measured under: the machine is shared, so its load is part of the result."""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """Write the report as JSON (parents created) and print it for the terminal."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    out.write_text(text + "\n")
    print(text)
