"""Request parsing for the admin API: a bad body becomes BadRequest, answered 422 with what was wrong."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request


class BadRequest(Exception):
    pass


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("request body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{key!r} must be a number")
    return float(value)
