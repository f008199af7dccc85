"""Apply requirements (approved, mergeable, undiverged): which ones a pull request fails. Pure.

The facts come from GitHub's API (reviews, mergeable) and from git (undiverged: the PR's head
contains the base branch's current tip, so the plan was made against what is really there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from envctl.terraform.settings import Requirement


@dataclass(frozen=True)
class PullFacts:
    approved: bool
    mergeable: bool | None  # None: GitHub has not computed it yet
    undiverged: bool


def unmet(requirements: Iterable[Requirement], facts: PullFacts) -> list[str]:
    reasons = []
    for requirement in requirements:
        if requirement == "approved" and not facts.approved:
            reasons.append("it needs an approving review (and no outstanding request for changes)")
        elif requirement == "mergeable" and facts.mergeable is not True:
            reasons.append("GitHub does not report it mergeable" +
                           (" yet; try again in a moment" if facts.mergeable is None else " (conflicts or failing checks)"))
        elif requirement == "undiverged" and not facts.undiverged:
            reasons.append("it is behind its base branch: merge or rebase the base branch in, then `/plan` again")
    return reasons


def approved(reviews: Iterable[tuple[str, str]]) -> bool:
    """(login, state) in submission order -> each reviewer's latest verdict decides."""
    latest: dict[str, str] = {}
    for login, state in reviews:
        if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login.lower()] = state
    verdicts = set(latest.values())
    return "APPROVED" in verdicts and "CHANGES_REQUESTED" not in verdicts
