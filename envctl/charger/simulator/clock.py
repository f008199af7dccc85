"""The wall-clock timestamp every simulated OCPP payload carries (1.6: UTC, ISO 8601, milliseconds)."""

from __future__ import annotations

import time


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
