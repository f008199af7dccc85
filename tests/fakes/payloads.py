"""The real webhook payloads (octokit/webhooks examples, copied into tests/fakes/github_webhooks), adjusted per test."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "github_webhooks"  # copied from octokit/webhooks (MIT, LICENSE beside them)


@cache
def _load(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / name).read_text())  # type: ignore[no-any-return]


def load(event: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(_load(event, name))


def comment(body: str, *, number: int = 1, login: str = "alice", comment_id: int = 1, repo: str | None = None,
            on_pr: bool = True, action: str = "created", bot: bool = False, installation: int | None = None) -> dict[str, Any]:
    p = load("issue_comment", "created.payload.json")
    p["action"] = action
    p["issue"]["number"] = number
    if on_pr:
        p["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
    p["comment"]["id"] = comment_id
    p["comment"]["body"] = body
    p["comment"]["user"]["login"] = login
    p["comment"]["user"]["type"] = "Bot" if bot else "User"
    p["sender"]["login"] = login
    if repo:
        p["repository"]["full_name"] = repo
    if installation is not None:
        p["installation"] = {"id": installation}
    return p


def pull_request(action: str, *, number: int = 2, sha: str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                 repo: str | None = None, fork: str | None = None, draft: bool = False,
                 labels: tuple[str, ...] = (), label: str | None = None) -> dict[str, Any]:
    fixture = {"edited": "opened"}.get(action, action)
    p = load("pull_request", f"{fixture}.payload.json")
    p["action"] = action
    p["number"] = number
    pr = p["pull_request"]
    pr["number"] = number
    pr["head"]["sha"] = sha
    pr["draft"] = draft
    pr["labels"] = [{"name": name} for name in labels]
    if label is not None:
        p["label"] = {"name": label}
    if repo:
        p["repository"]["full_name"] = repo
        pr["base"]["repo"]["full_name"] = repo
    pr["head"]["repo"]["full_name"] = fork or p["repository"]["full_name"]
    return p
