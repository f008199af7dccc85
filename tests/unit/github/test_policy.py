from __future__ import annotations

import pytest

from envctl.github.events import PullRequestEvent, parse_event
from envctl.github.policy import decide
from envctl.github.settings import PreviewPolicy
from tests.fakes import payloads

AUTO = PreviewPolicy(auto_preview=True)
LABEL = PreviewPolicy(auto_preview=False, trigger_label="preview")
OFF = PreviewPolicy()


def pr(action: str, **kw: object) -> PullRequestEvent:
    event = parse_event("pull_request", payloads.pull_request(action, **kw))  # type: ignore[arg-type]
    assert isinstance(event, PullRequestEvent)
    return event


@pytest.mark.parametrize(
    ("event", "rules", "exists", "action"),
    [
        (pr("opened"), AUTO, False, "up"),
        (pr("reopened"), AUTO, False, "up"),
        (pr("opened"), OFF, False, "none"),
        (pr("opened"), LABEL, False, "none"),
        (pr("opened", labels=("preview",)), LABEL, False, "up"),
        (pr("opened", draft=True), AUTO, False, "none"),
        (pr("opened", draft=True), AUTO.model_copy(update={"skip_drafts": False}), False, "up"),
        (pr("ready_for_review"), AUTO, False, "up"),
        (pr("synchronize"), OFF, True, "stale"),  # asked for by a comment: runs that commit until asked again
        (pr("synchronize"), AUTO, True, "up"),  # a standing request redeploys
        (pr("synchronize", labels=("preview",)), LABEL, True, "up"),
        (pr("synchronize"), OFF, False, "none"),
        (pr("synchronize"), AUTO, False, "up"),
        (pr("closed"), OFF, False, "down"),
        (pr("closed", fork="eve/x"), OFF, True, "down"),
        (pr("labeled", labels=("preview",), label="preview"), LABEL, False, "up"),
        (pr("labeled", labels=("bug",), label="bug"), LABEL, False, "none"),
        (pr("unlabeled", label="preview"), LABEL, True, "down"),
        (pr("unlabeled", label="preview"), AUTO.model_copy(update={"trigger_label": "preview"}), True, "none"),
        (pr("converted_to_draft"), AUTO, True, "none"),
    ],
)
def test_decisions(event: PullRequestEvent, rules: PreviewPolicy, exists: bool, action: str) -> None:
    assert decide(event, rules, exists).action == action


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize", "ready_for_review"])
def test_fork_code_is_never_deployed_automatically(action: str) -> None:
    for rules in (AUTO, LABEL):
        event = pr(action, fork="mallory/Hello-World", labels=("preview",))
        decision = decide(event, rules, preview_exists=False)
        assert decision.action == "none" and "fork" in decision.reason


def test_push_to_a_fork_with_a_preview_marks_it_stale() -> None:
    assert decide(pr("synchronize", fork="mallory/Hello-World"), AUTO, preview_exists=True).action == "stale"


def test_reasons_are_readable() -> None:
    assert decide(pr("opened", draft=True), AUTO).reason == "draft pull requests are skipped"
    assert decide(pr("opened"), OFF).reason == "auto-preview is off and the trigger label is absent"
