"""Which of GitHub's failures are worth retrying, and after how long: one rule for every caller.

The router (a delivery) and the Terraform worker processes (a job) both turn GitHub's outages into
RetryLater: a rate limit waits for the reset GitHub names, a 5xx/429 or a lost connection backs off
exponentially by attempt (at most 5 minutes). Any other answer (a 4xx) will not change on a retry.
"""

from __future__ import annotations

import time

import requests
from github import GithubException, RateLimitExceededException

from envctl.github.jobs import RetryLater

MAX_BACKOFF_S = 300.0


def backoff(attempt: int) -> float:
    return min(MAX_BACKOFF_S, 5.0 * 2 ** attempt)


def rate_limit_delay(err: GithubException) -> float:
    headers = {k.lower(): v for k, v in (err.headers or {}).items()}
    if headers.get("retry-after", "").isdigit():
        return float(headers["retry-after"])
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return max(1.0, float(reset) - time.time() + 1)
    return 60.0


def retry_later(err: Exception, attempt: int, *, name_only: bool = False) -> RetryLater | None:
    """The RetryLater for a GitHub outage, or None when retrying would get the same answer.

    `name_only`: describe a lost connection by the exception's type alone (a worker's summary
    crosses a pipe and lands in the delivery record; the full text names pools and retries).
    """
    if isinstance(err, RateLimitExceededException):
        return RetryLater(rate_limit_delay(err), f"GitHub rate limit: {err.status}")
    if isinstance(err, GithubException):
        if err.status >= 500 or err.status == 429:
            return RetryLater(backoff(attempt), f"GitHub answered {err.status}")
        return None
    if isinstance(err, requests.ConnectionError):
        return RetryLater(backoff(attempt), f"GitHub unreachable: {type(err).__name__ if name_only else err}")
    return None
