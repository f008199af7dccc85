"""200 deliveries arriving at once are each processed exactly once (and their replays not at all)."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO, RunningServer

PRS = 20
DELIVERIES = 200


def test_200_deliveries_at_once_each_processed_exactly_once(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    for number in range(1, PRS + 1):
        fake_github.add_pull(REPO, number, f"{number:040x}")
    fake_github.set_permission(REPO, "alice", "write")
    jobs = []
    for i in range(DELIVERIES):
        # three in four ask for help (anyone may); the rest are a writer's bad command (permission checked)
        body = "/help" if i % 4 else "/preview up --chargers lots"
        jobs.append((f"burst-{i}", payloads.comment(body, number=i % PRS + 1, comment_id=10_000 + i, repo=REPO)))

    def send(job: tuple[str, dict[str, object]]) -> int:
        return webhook.send("issue_comment", job[1], delivery=job[0]).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        first = list(pool.map(send, jobs))
        replays = list(pool.map(send, jobs[::2]))  # GitHub's "redeliver", while work is still running
    assert Counter(first) == {202: DELIVERIES}
    assert Counter(replays) == {200: DELIVERIES // 2}
    webhook.wait_idle(120)

    replies = [c for n in range(1, PRS + 1) for c in fake_github.issue_comments(REPO, n)]
    answered = Counter(int(m) for c in replies for m in re.findall(r"<!-- envctl:reply-to:(\d+) -->", c["body"]))
    assert answered == Counter({10_000 + i: 1 for i in range(DELIVERIES)})
    for reply in replies:  # each landed on the PR its comment was on
        comment_id = int(re.findall(r"reply-to:(\d+)", reply["body"])[0])
        assert reply["_number"] == (comment_id - 10_000) % PRS + 1
    assert webhook.service.store.counts() == {"done": DELIVERIES}
    assert len(fake_github.recorded("GET", rf"/repos/{REPO}/collaborators/alice/permission")) <= 4
    assert httpx.get(webhook.url + "/readyz").json()["deliveries"] == {"done": DELIVERIES}
