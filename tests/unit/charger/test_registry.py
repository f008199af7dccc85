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


def test_what_is_kept_of_chargers_that_left_is_bounded_oldest_forgotten_first() -> None:
    reg = Registry(max_offline_states=3)
    conns = [conn(reg, f"X{i}") for i in range(10)]
    for c in conns:
        reg.attach(c)
    live = conn(reg, "LIVE")
    reg.attach(live)
    for c in conns:
        reg.detach(c)
    assert reg.remembered() == 4  # the connected one and the three that left last
    assert reg.seen("LIVE") and reg.seen("X9") and reg.seen("X7") and not reg.seen("X6")
    again = conn(reg, "X8")  # back again: no longer counted as gone
    reg.attach(again)
    reg.detach(live)
    assert reg.seen("X8") and reg.seen("LIVE") and reg.remembered() == 4
