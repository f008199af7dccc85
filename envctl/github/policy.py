"""Which pull-request events start, refresh or stop a preview without anyone asking. Pure.

Rules, in order:
- closed: tear down (always; teardown is idempotent).
- a fork's code never gets an automatic preview (its code would run with our secrets): a push to a
  fork PR with a live preview only marks it stale until a writer runs `/preview up` again.
- a push (synchronize) to a PR whose preview a writer asked for (`/preview up`) marks it stale:
  the preview keeps running the commit that was asked for until someone asks again. Only a
  standing request (auto_preview, or the trigger label on the PR) redeploys on push.
- otherwise a PR gets one when auto_preview is on or it carries the trigger label, unless it is a
  draft and drafts are skipped; removing the trigger label (with auto_preview off) tears it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envctl.github.events import PullRequestEvent
from envctl.github.settings import PreviewPolicy

Action = Literal["up", "down", "stale", "none"]

OPENING = ("opened", "reopened", "ready_for_review", "synchronize", "labeled")


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def needs_env_lookup(event: PullRequestEvent) -> bool:
    """Whether decide() depends on a preview already existing (so the router asks the runtime)."""
    return event.action == "synchronize"


def decide(event: PullRequestEvent, policy: PreviewPolicy, preview_exists: bool = False) -> Decision:
    if event.action == "closed":
        return Decision("down", "pull request closed")
    if event.action not in OPENING and event.action != "unlabeled":
        return Decision("none", f"nothing to do on {event.action}")
    if event.from_fork:
        if event.action == "synchronize" and preview_exists:
            return Decision("stale", "new commits on a fork need a writer's /preview up")
        return Decision("none", "pull requests from forks are previewed only on a writer's /preview up")
    labelled = policy.trigger_label is not None and policy.trigger_label in event.labels
    if event.action == "synchronize" and preview_exists and not (policy.auto_preview or labelled):
        return Decision("stale", "new commits: the preview runs what a writer asked for until /preview up")
    if event.action == "unlabeled":
        if policy.trigger_label and event.label == policy.trigger_label and not policy.auto_preview:
            return Decision("down", f"label {policy.trigger_label!r} removed")
        return Decision("none", "label not relevant")
    if event.action == "labeled" and event.label != policy.trigger_label:
        return Decision("none", "label not relevant")
    if not (policy.auto_preview or labelled):
        return Decision("none", "auto-preview is off and the trigger label is absent")
    if event.draft and policy.skip_drafts:
        return Decision("none", "draft pull requests are skipped")
    return Decision("up", "auto-preview" if policy.auto_preview else f"label {policy.trigger_label!r}")
