"""GitHub's rate limits are waited out, never turned into lost work."""

from __future__ import annotations

import time

from envctl.github.settings import GitHubSettings
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO, RunningServer


def is_comment_post(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/comments")


def test_secondary_rate_limit_waits_retry_after_then_posts_once(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    fake_github.rate_limit_next(1, retry_after=1, matches=is_comment_post)
    started = time.monotonic()
    assert webhook.send("issue_comment", payloads.comment("/help", number=3, comment_id=5, repo=REPO)).status_code == 202
    webhook.wait_idle()
    posts = fake_github.recorded("POST", rf"/repos/{REPO}/issues/3/comments")
    assert [p.status for p in posts] == [403, 201]
    assert posts[1].at - posts[0].at >= 0.95  # Retry-After: 1 was honoured
    assert len(fake_github.issue_comments(REPO, 3)) == 1
    assert time.monotonic() - started < 10


def test_a_long_primary_limit_requeues_the_job_instead_of_losing_it(
    settings: GitHubSettings, server_factory: object, fake_github: FakeGitHub
) -> None:
    settings.max_rate_limit_wait_s = 0.5  # reset is further away than we are willing to sleep in a worker
    webhook = server_factory(settings)  # type: ignore[operator]
    fake_github.add_pull(REPO, 3, "a" * 40)
    fake_github.rate_limit_next(1, retry_after=2, matches=is_comment_post, primary=True)
    assert webhook.send("issue_comment", payloads.comment("/help", number=3, comment_id=6, repo=REPO),
                        delivery="limited").status_code == 202
    time.sleep(0.5)
    delivery = webhook.service.store.get("limited")
    assert delivery is not None and delivery.state == "queued" and "rate limit" in (delivery.result or "")
    webhook.wait_idle(30)
    done = webhook.service.store.get("limited")
    assert done is not None and done.state == "done" and done.attempts == 2
    assert [p.status for p in fake_github.recorded("POST", rf"/repos/{REPO}/issues/3/comments")] == [403, 201]
    assert len(fake_github.issue_comments(REPO, 3)) == 1
