"""Which GitHub failures are retried, and after how long (github/retries.py): one rule for the
router's deliveries and the Terraform workers' jobs."""

from __future__ import annotations

import time

import pytest
import requests
from github import GithubException, RateLimitExceededException

from envctl.github.retries import retry_later


def test_a_rate_limit_waits_for_retry_after_or_the_reset_github_names() -> None:
    later = retry_later(RateLimitExceededException(403, {}, {"Retry-After": "7"}), attempt=1)
    assert later is not None and later.delay_s == 7.0 and later.why == "GitHub rate limit: 403"
    reset = str(int(time.time()) + 120)
    later = retry_later(RateLimitExceededException(403, {}, {"X-RateLimit-Reset": reset}), attempt=1)
    assert later is not None and 115 <= later.delay_s <= 122
    later = retry_later(RateLimitExceededException(403, {}, {}), attempt=1)
    assert later is not None and later.delay_s == 60.0


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_back_off_exponentially_up_to_five_minutes(status: int) -> None:
    delays = [retry_later(GithubException(status, {}, {}), attempt=n) for n in (1, 2, 3, 10)]
    assert [d.delay_s for d in delays if d] == [10.0, 20.0, 40.0, 300.0]
    assert all(d and d.why == f"GitHub answered {status}" for d in delays)


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_an_answer_a_retry_would_not_change_is_not_retried(status: int) -> None:
    assert retry_later(GithubException(status, {}, {}), attempt=1) is None


def test_a_lost_connection_is_retried_and_a_bug_is_not() -> None:
    err = requests.ConnectionError("connection refused by api.github.com")
    assert retry_later(err, attempt=1).why == "GitHub unreachable: connection refused by api.github.com"  # type: ignore[union-attr]
    assert retry_later(err, attempt=1, name_only=True).why == "GitHub unreachable: ConnectionError"  # type: ignore[union-attr]
    assert retry_later(ValueError("a bug"), attempt=1) is None
