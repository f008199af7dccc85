"""A plan, summarised from `terraform show -json`. Pure.

Counts per action (create / update / replace / delete / no-op), the resources with their
actions, and the outputs that change. Values are never copied out of the plan JSON: a summary
holds only addresses, action names and output names, so it cannot carry a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("create", "update", "replace", "delete")
ORDER = ("replace", "delete", "update", "create", "read", "no-op")


def action_of(actions: list[str]) -> str:
    """Terraform's action list -> one word: ["delete", "create"] and ["create", "delete"] are a replace."""
    if len(actions) == 2 and set(actions) == {"create", "delete"}:
        return "replace"
    if len(actions) == 1:
        return actions[0]
    return "+".join(actions)


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: str
    actions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "action": self.action, "actions": list(self.actions)}


@dataclass(frozen=True)
class OutputChange:
    name: str
    action: str
    sensitive: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "sensitive": self.sensitive}


@dataclass(frozen=True)
class Summary:
    changes: dict[str, int]
    no_op: int
    resources: tuple[ResourceChange, ...]  # every resource that changes (no-op ones left out)
    outputs: tuple[OutputChange, ...] = field(default=())
    drift: tuple[ResourceChange, ...] = field(default=())  # changes made outside Terraform (refresh)

    @property
    def has_changes(self) -> bool:
        return any(self.changes.values()) or bool(self.outputs)

    def by_action(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for rc in self.resources:
            grouped.setdefault(rc.action, []).append(rc.address)
        return {a: grouped[a] for a in sorted(grouped, key=lambda a: ORDER.index(a) if a in ORDER else len(ORDER))}

    def line(self) -> str:
        c = self.changes
        text = (f"{c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
                f"{c['delete']} to delete, {self.no_op} unchanged")
        if self.outputs:
            text += f"; {len(self.outputs)} output{'s' if len(self.outputs) != 1 else ''} changed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "changes": dict(self.changes),
            "no_op": self.no_op,
            "resources": [rc.to_dict() for rc in self.resources],
            "outputs": [o.to_dict() for o in self.outputs],
            "drift": [rc.to_dict() for rc in self.drift],
        }


def _changes(items: list[dict[str, Any]]) -> list[ResourceChange]:
    out = []
    for rc in items:
        if rc.get("mode") == "data":
            continue
        actions = tuple((rc.get("change") or {}).get("actions") or ("no-op",))
        out.append(ResourceChange(str(rc["address"]), action_of(list(actions)), actions))
    return out


def summarize(plan: dict[str, Any]) -> Summary:
    changes = dict.fromkeys(ACTIONS, 0)
    no_op = 0
    resources = []
    for rc in _changes(plan.get("resource_changes") or []):
        if rc.action == "no-op":
            no_op += 1
            continue
        if rc.action in changes:
            changes[rc.action] += 1
        resources.append(rc)
    outputs = []
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        action = action_of(list(change.get("actions") or ["no-op"]))
        if action != "no-op":
            sensitive = bool(change.get("after_sensitive") or change.get("before_sensitive"))
            outputs.append(OutputChange(name, action, sensitive))
    drift = tuple(rc for rc in _changes(plan.get("resource_drift") or []) if rc.action != "no-op")
    return Summary(changes, no_op, tuple(resources), tuple(outputs), drift)
