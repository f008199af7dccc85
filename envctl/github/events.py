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


def _obj(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    node = _get(payload, *path)
    if not isinstance(node, dict):
        raise BadPayload(f"webhook payload field {'.'.join(path)} is not an object")
    return node


def _int(payload: dict[str, Any], *path: str) -> int:
    value = _get(payload, *path)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadPayload(f"webhook payload field {'.'.join(path)} is not a positive whole number: {str(value)[:40]!r}")
    return value


def _str(payload: dict[str, Any], *path: str, empty: bool = False) -> str:
    value = _get(payload, *path)
    if not isinstance(value, str) or (not empty and not value):
        raise BadPayload(f"webhook payload field {'.'.join(path)} is not a{'' if empty else ' non-empty'} string")
    return value


def _optional(payload: dict[str, Any], *path: str) -> Any:
    try:
        return _get(payload, *path)
    except BadPayload:
        return None


def _installation(payload: dict[str, Any]) -> int | None:
    if _optional(payload, "installation", "id") is None:
        return None
    return _int(payload, "installation", "id")


def parse_event(name: str, payload: dict[str, Any]) -> Event:
    """Every field envctl reads is checked here: a signed but malformed delivery is a BadPayload
    (the server answers 400 and logs it), never a KeyError deeper in."""
    if not isinstance(payload, dict):
        raise BadPayload("webhook payload is not a JSON object")
    if name == "ping":
        hook_id = payload.get("hook_id")
        return PingEvent(zen=str(payload.get("zen", "")), hook_id=hook_id if isinstance(hook_id, int) else None)
    if name == "issue_comment":
        body = _optional(payload, "comment", "body")
        if body is not None and not isinstance(body, str):
            raise BadPayload("webhook payload field comment.body is not a string")
        pull = _obj(payload, "issue").get("pull_request")
        return CommentEvent(
            repo=_str(payload, "repository", "full_name"),
            number=_int(payload, "issue", "number"),
            is_pull_request=bool(pull),
            action=_str(payload, "action"),
            comment_id=_int(payload, "comment", "id"),
            body=body or "",
            author=_str(payload, "comment", "user", "login"),
            author_is_bot=_obj(payload, "comment", "user").get("type") == "Bot",
            installation_id=_installation(payload),
        )
    if name == "pull_request":
        pr = _obj(payload, "pull_request")
        head_repo = _optional(payload, "pull_request", "head", "repo")
        if head_repo is not None and not isinstance(head_repo, dict):
            raise BadPayload("webhook payload field pull_request.head.repo is not an object")
        labels = pr.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(lb, dict) and isinstance(lb.get("name"), str)
                                                   for lb in labels):
            raise BadPayload("webhook payload field pull_request.labels is not a list of labels with names")
        label = payload.get("label")
        number = payload.get("number")
        return PullRequestEvent(
            repo=_str(payload, "repository", "full_name"),
            number=_int(payload, "number") if number is not None else _int(payload, "pull_request", "number"),
            action=_str(payload, "action"),
            head_sha=_str(payload, "pull_request", "head", "sha"),
            head_repo=_str(payload, "pull_request", "head", "repo", "full_name") if head_repo else None,
            draft=bool(pr.get("draft")),
            labels=tuple(lb["name"] for lb in labels),
            label=str(label["name"]) if isinstance(label, dict) and isinstance(label.get("name"), str) else None,
            author=str(_optional(payload, "pull_request", "user", "login") or ""),
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
