"""Apply requirements and the Terraform comment commands (same strict parser as /preview)."""

from __future__ import annotations

import pytest

from envctl.github.comment_parser import Reply, TfCommand, parse_comment
from envctl.terraform.requirements import Approval, PullFacts, Review, approval, unmet

HEAD = "c0ffee" * 6 + "beef"
OLD = "0ld0" * 10
WRITERS = {"bob", "carol", "dave"}


def verdict(reviews: list[tuple[str, str, str]], needed: int = 1, teams: tuple[str, ...] = (),
            sre: frozenset[str] = frozenset()) -> Approval:
    return approval([Review(login, state, sha) for login, state, sha in reviews], HEAD, needed, teams,
                    may_write=lambda login: login.lower() in WRITERS, in_team=lambda _team, login: login in sre)


def test_requirements_name_the_one_that_failed() -> None:
    facts = PullFacts(Approval(False, "it needs 1 approving review"), "unknown", undiverged=False)
    reasons = unmet(["approved", "mergeable", "undiverged"], facts)
    assert [r.split(":")[0] for r in reasons] == ["`approved`", "`mergeable`", "`undiverged`"]
    assert "approving review" in reasons[0] and "try again in a moment" in reasons[1] and "behind" in reasons[2]
    assert "`blocked`, not `clean`" in unmet(["mergeable"], PullFacts(Approval(True, ""), "blocked", True))[0]
    assert unmet([], facts) == []
    assert unmet(["approved", "mergeable", "undiverged"], PullFacts(Approval(True, ""), "clean", True)) == []


def test_only_writers_latest_approvals_of_the_current_head_count() -> None:
    assert verdict([("bob", "APPROVED", HEAD)]).ok
    # anyone may submit a review: a reader's approval counts for nothing, and says so
    outsider = verdict([("mallory", "APPROVED", HEAD)])
    assert not outsider.ok and "@mallory has no write access" in outsider.detail
    # an approval of an earlier commit says nothing about what was pushed after it
    stale = verdict([("bob", "APPROVED", OLD)])
    assert not stale.ok and "@bob approved an earlier commit" in stale.detail
    # each reviewer's latest verdict decides; COMMENTED does not replace an approval
    assert verdict([("carol", "CHANGES_REQUESTED", OLD), ("carol", "APPROVED", HEAD)]).ok
    assert verdict([("bob", "APPROVED", HEAD), ("bob", "COMMENTED", HEAD)]).ok
    assert not verdict([("bob", "APPROVED", HEAD), ("Bob", "DISMISSED", HEAD)]).ok
    # a writer's outstanding request for changes blocks, even on an older commit; a reader's does not
    blocked = verdict([("bob", "APPROVED", HEAD), ("carol", "CHANGES_REQUESTED", OLD)])
    assert not blocked.ok and "@carol requested changes" in blocked.detail
    assert verdict([("bob", "APPROVED", HEAD), ("mallory", "CHANGES_REQUESTED", HEAD)]).ok


def test_n_of_m_approvals_optionally_from_teams() -> None:
    two = [("bob", "APPROVED", HEAD), ("carol", "APPROVED", HEAD)]
    assert verdict(two, needed=2).ok
    short = verdict(two[:1] + [("dave", "APPROVED", OLD)], needed=2)
    assert not short.ok and "needs 2 approving reviews" in short.detail and "1 so far (@bob)" in short.detail
    in_team = verdict(two, needed=2, teams=("sre",), sre=frozenset({"bob", "carol"}))
    assert in_team.ok
    partly = verdict(two, needed=2, teams=("sre",), sre=frozenset({"bob"}))
    assert not partly.ok and "@carol is not in sre" in partly.detail and "writers in team sre" in partly.detail


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
