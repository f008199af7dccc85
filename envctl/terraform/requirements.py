"""Apply requirements (approved, mergeable, undiverged): which ones a pull request fails. Pure.

The facts come from GitHub's API and from git:

- approved: N approving reviews (N from `approvals`, default 1) counted the way a reviewer would
  expect a gate to count them: only reviews by users with write access or more (anyone can
  submit a review), only each reviewer's latest verdict (a later CHANGES_REQUESTED or DISMISSED
  replaces an approval; COMMENTED does not), only approvals of the current head SHA (an approval
  of an older commit says nothing about what was pushed after it), and, with `teams`, only
  members of those teams. Any writer's outstanding CHANGES_REQUESTED blocks, on any commit.
- mergeable: GitHub's `mergeable_state` is `clean`: no conflicts, and the required status
  checks and reviews of branch protection have passed.
- undiverged: the PR's head contains the base branch's current tip (git), so the plan was made
  against what is really there.

Every refusal names the requirement that failed and what would satisfy it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from envctl.terraform.settings import Requirement

VERDICTS = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


@dataclass(frozen=True)
class Review:
    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str | None


@dataclass(frozen=True)
class Approval:
    ok: bool
    detail: str  # why not, or who approved


@dataclass(frozen=True)
class PullFacts:
    approval: Approval
    mergeable_state: str | None  # GitHub's: clean, blocked, behind, dirty, unstable, has_hooks, draft, unknown
    undiverged: bool


def _who(logins: Iterable[str]) -> str:
    return ", ".join(f"@{login}" for login in logins)


def approval(reviews: Iterable[Review], head_sha: str, needed: int, teams: tuple[str, ...],
             may_write: Callable[[str], bool], in_team: Callable[[str, str], bool]) -> Approval:
    """`reviews` oldest first; `may_write(login)` and `in_team(team, login)` ask GitHub."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state in VERDICTS and review.login:
            latest[review.login.lower()] = review
    writers = {k: r for k, r in latest.items() if may_write(r.login)}
    outsiders = sorted(r.login for k, r in latest.items() if k not in writers and r.state == "APPROVED")
    blocking = sorted(r.login for r in writers.values() if r.state == "CHANGES_REQUESTED")
    if blocking:
        return Approval(False, f"{_who(blocking)} requested changes; their new review (or a dismissal) is needed")
    approved = [r for r in writers.values() if r.state == "APPROVED"]
    stale = sorted(r.login for r in approved if r.commit_id != head_sha)
    current = [r for r in approved if r.commit_id == head_sha]
    outside_teams: list[str] = []
    if teams:
        outside_teams = sorted(r.login for r in current if not any(in_team(t, r.login) for t in teams))
        current = [r for r in current if r.login not in outside_teams]
    counted = sorted(r.login for r in current)
    if len(counted) >= needed:
        return Approval(True, f"approved by {_who(counted)}")
    source = "writers" + (f" in team {' or '.join(teams)}" if teams else "")
    notes = [f"{len(counted)} so far" + (f" ({_who(counted)})" if counted else "")]
    if stale:
        notes.append(f"{_who(stale)} approved an earlier commit, not {head_sha[:12]}")
    if outsiders:
        notes.append(f"{_who(outsiders)} {'has' if len(outsiders) == 1 else 'have'} no write access")
    if outside_teams:
        notes.append(f"{_who(outside_teams)} {'is' if len(outside_teams) == 1 else 'are'} not in {' or '.join(teams)}")
    return Approval(False, f"it needs {needed} approving review{'s' if needed > 1 else ''} of {head_sha[:12]} "
                           f"from {source}: " + "; ".join(notes))


def unmet(requirements: Iterable[Requirement], facts: PullFacts) -> list[str]:
    reasons = []
    for requirement in requirements:
        if requirement == "approved" and not facts.approval.ok:
            reasons.append(f"`approved`: {facts.approval.detail}")
        elif requirement == "mergeable" and facts.mergeable_state != "clean":
            state = facts.mergeable_state or "unknown"
            why = ("GitHub has not computed it yet; try again in a moment" if state == "unknown" else
                   "required checks or reviews are missing or failing" if state in ("blocked", "unstable") else
                   "it has conflicts with its base branch" if state == "dirty" else
                   "it is behind its base branch" if state == "behind" else "it is a draft" if state == "draft" else
                   "GitHub does not report it ready to merge")
            reasons.append(f"`mergeable`: GitHub reports its merge state as `{state}`, not `clean` ({why})")
        elif requirement == "undiverged" and not facts.undiverged:
            reasons.append("`undiverged`: it is behind its base branch: merge or rebase the base branch in, "
                           "then `/plan` again")
    return reasons
