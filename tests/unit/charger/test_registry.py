from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from envctl.charger.server.registry import Registry


def conn(reg: Registry, cid: str) -> Any:
    return SimpleNamespace(charger_id=cid, state=reg.state(cid))


def test_attach_replaces_and_detach_only_removes_the_current_connection() -> None:
    reg = Registry()
    a1, b, a2 = conn(reg, "A"), conn(reg, "B"), conn(reg, "A")
    assert reg.attach(a1) is None and reg.attach(b) is None
    assert reg.attach(a2) is a1
    assert reg.get("A") is a2 and len(reg) == 2
    assert reg.detach(a1) is False  # the replaced connection's teardown leaves its successor alone
    assert reg.get("A") is a2
    assert reg.state("A").connections == 2 and a1.state is a2.state


def test_oldest_first_and_replacement_moves_to_the_back() -> None:
    reg = Registry()
    for cid in ("A", "B", "C"):
        reg.attach(conn(reg, cid))
    reg.attach(conn(reg, "A"))
    assert [c.charger_id for c in reg.oldest(2)] == ["B", "C"]
    assert reg.ids() == ["B", "C", "A"] and reg.ids(limit=1) == ["B"]
    assert reg.seen("A") and not reg.seen("Z")
