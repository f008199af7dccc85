"""Webhook payloads -> small typed events. Pure; the only place that knows payload field names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envctl.errors import ConfigError


class BadPayload(ConfigError):
    """The body parsed as JSON but lacks a field this event must have."""


@dataclass(frozen=True)
class CommentEvent:
    repo: str
    number: int
    is_pull_request: bool
    action: str
    comment_id: int
    body: str
    author: str
    author_is_bot: bool
    installation_id: int | None


@dataclass(frozen=True)
class PullRequestEvent:
    repo: str
    number: int
    action: str
    head_sha: str
    head_repo: str | None  # None when the fork was deleted
    draft: bool
    labels: tuple[str, ...]
    label: str | None  # the label added or removed, for labeled/unlabeled
    author: str
    installation_id: int | None

    @property
    def from_fork(self) -> bool:
        return self.head_repo != self.repo


@dataclass(frozen=True)
class PingEvent:
    zen: str
    hook_id: int | None


@dataclass(frozen=True)
class OtherEvent:
    name: str
    action: str | None


Event = CommentEvent | PullRequestEvent | PingEvent | OtherEvent


def _get(payload: dict[str, Any], *path: str) -> Any:
    node: Any = payload
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise BadPayload(f"webhook payload has no {'.'.join(path)}")
        node = node[key]
    return node


def _installation(payload: dict[str, Any]) -> int | None:
    inst = payload.get("installation")
    return int(inst["id"]) if isinstance(inst, dict) and "id" in inst else None


def parse_event(name: str, payload: dict[str, Any]) -> Event:
    if not isinstance(payload, dict):
        raise BadPayload("webhook payload is not a JSON object")
    if name == "ping":
        hook_id = payload.get("hook_id")
        return PingEvent(zen=str(payload.get("zen", "")), hook_id=int(hook_id) if hook_id else None)
    if name == "issue_comment":
        comment = _get(payload, "comment")
        user = _get(payload, "comment", "user")
        return CommentEvent(
            repo=str(_get(payload, "repository", "full_name")),
            number=int(_get(payload, "issue", "number")),
            is_pull_request=bool(_get(payload, "issue").get("pull_request")),
            action=str(_get(payload, "action")),
            comment_id=int(comment["id"]),
            body=str(comment.get("body") or ""),
            author=str(user["login"]),
            author_is_bot=user.get("type") == "Bot",
            installation_id=_installation(payload),
        )
    if name == "pull_request":
        pr = _get(payload, "pull_request")
        head_repo = (pr.get("head") or {}).get("repo")
        label = payload.get("label")
        return PullRequestEvent(
            repo=str(_get(payload, "repository", "full_name")),
            number=int(payload.get("number") or pr["number"]),
            action=str(_get(payload, "action")),
            head_sha=str(_get(payload, "pull_request", "head", "sha")),
            head_repo=str(head_repo["full_name"]) if head_repo else None,
            draft=bool(pr.get("draft")),
            labels=tuple(str(lb["name"]) for lb in pr.get("labels") or ()),
            label=str(label["name"]) if isinstance(label, dict) else None,
            author=str((pr.get("user") or {}).get("login", "")),
            installation_id=_installation(payload),
        )
    action = payload.get("action")
    return OtherEvent(name=name, action=str(action) if action is not None else None)


def serial_key(event: Event) -> str:
    """Jobs with the same key run one at a time, in arrival order: one per pull request."""
    if isinstance(event, (CommentEvent, PullRequestEvent)):
        return f"{event.repo}#{event.number}"
    if isinstance(event, PingEvent):
        return "ping"
    return f"other:{event.name}"
