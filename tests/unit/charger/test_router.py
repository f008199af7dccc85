from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from envctl.charger.protocol.frames import Call, CallError, CallResult
from envctl.charger.server.router import CENTRAL_ONLY, Router

CONN: Any = SimpleNamespace(charger_id="CP1")


async def heartbeat(conn: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": "2024-01-01T00:00:00Z"}


async def wrong_answer(conn: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return {"time": "now"}


async def test_valid_call_is_answered() -> None:
    out = await Router({"Heartbeat": heartbeat}).dispatch(CONN, Call("1", "Heartbeat", {}))
    assert isinstance(out, CallResult) and out.payload == {"currentTime": "2024-01-01T00:00:00Z"}


async def test_codes_for_unknown_central_only_invalid_and_wrong_answers() -> None:
    router = Router({"Heartbeat": wrong_answer, "Authorize": heartbeat})
    cases = [
        (Call("1", "Nope", {}), "NotImplemented"),
        (Call("2", "Reset", {"type": "Hard"}), "NotSupported"),
        (Call("3", "Authorize", {}), "OccurenceConstraintViolation"),
        (Call("4", "Heartbeat", {}), "InternalError"),  # our handler's answer breaks the schema
    ]
    for call, code in cases:
        out = await router.dispatch(CONN, call)
        assert isinstance(out, CallError) and (out.unique_id, out.code) == (call.unique_id, code)
    assert "GetDiagnostics" in CENTRAL_ONLY and "Heartbeat" not in CENTRAL_ONLY
