"""Request parsing for the admin API: a bad body becomes BadRequest, answered 422 with what was wrong.

JSON here is strict: NaN, Infinity and -Infinity are not JSON (Python's json module accepts them;
a drain at `rate_per_s: NaN` once stopped a replica listening without ever draining it), and every
number must be finite and within the bounds its endpoint gives.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request


class BadRequest(Exception):
    pass


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body(), parse_constant=_not_json)
    except ValueError as exc:
        raise BadRequest(f"request body must be JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def number(body: dict[str, Any], key: str, *, above: float | None = None, at_most: float | None = None) -> float:
    """body[key] as a finite float, > above and <= at_most when given."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{key!r} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest(f"{key!r} must be a finite number")
    if above is not None and number <= above:
        raise BadRequest(f"{key!r} must be > {above:g}")
    if at_most is not None and number > at_most:
        raise BadRequest(f"{key!r} must be at most {at_most:g}")
    return number
