"""Apply requirements and the Terraform comment commands (same strict parser as /preview)."""

from __future__ import annotations

import pytest

from envctl.github.comment_parser import Reply, TfCommand, parse_comment
from envctl.terraform.requirements import PullFacts, approved, unmet


def test_requirements_say_what_is_missing() -> None:
    facts = PullFacts(approved=False, mergeable=None, undiverged=False)
    reasons = unmet(["approved", "mergeable", "undiverged"], facts)
    assert len(reasons) == 3 and "approving review" in reasons[0] and "yet" in reasons[1] and "behind" in reasons[2]
    assert unmet([], facts) == []
    assert unmet(["approved", "mergeable", "undiverged"], PullFacts(True, True, True)) == []


def test_each_reviewers_latest_verdict_counts() -> None:
    assert approved([("bob", "APPROVED")])
    assert not approved([("bob", "APPROVED"), ("carol", "CHANGES_REQUESTED")])
    assert approved([("carol", "CHANGES_REQUESTED"), ("carol", "APPROVED")])
    assert not approved([("bob", "APPROVED"), ("Bob", "DISMISSED")])
    assert not approved([("bob", "COMMENTED")])


@pytest.mark.parametrize(("body", "expected"), [
    ("/plan", TfCommand("plan")),
    ("/plan preview\nbecause the DNS changed", TfCommand("plan", "preview")),
    ("/apply infra/app", TfCommand("apply", "infra/app")),
    ("/UNLOCK db", TfCommand("unlock", "db")),
])  # fmt: skip
def test_terraform_commands_parse(body: str, expected: TfCommand) -> None:
    assert parse_comment(body) == expected


@pytest.mark.parametrize(("body", "says"), [
    ("/plan a b", "at most one project name"),
    ("/apply -p app", "takes no options"),
    ("/plan $(touch)", "is not a project name"),
    ("/unlock ../../etc", "is not a project name"),
    ("/plan `rm`", "is not a project name"),
])  # fmt: skip
def test_bad_terraform_commands_get_a_helpful_reply(body: str, says: str) -> None:
    parsed = parse_comment(body)
    assert isinstance(parsed, Reply) and says in parsed.message and "`" not in parsed.message.split("`")[-1]
