"""The webhook's HTTP contract, through the real server: signatures, limits, dedupe, routing."""

from __future__ import annotations

import json
import time

import pytest

from envctl.github.markdown import REPLY_MARKER
from envctl.github.signature import sign
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO, SECRET, RunningServer


def help_comment(number: int = 3, comment_id: int = 11, login: str = "alice") -> dict[str, object]:
    return payloads.comment("/help", number=number, comment_id=comment_id, login=login, repo=REPO)


def test_ping_gets_pong(webhook: RunningServer) -> None:
    answer = webhook.send("ping", payloads.load("ping", "payload.json"))
    assert answer.status_code == 200
    assert answer.json() == {"message": "pong", "zen": "Anything added dilutes everything else."}


def test_forged_or_missing_signature_is_rejected_before_anything_happens(
    webhook: RunningServer, fake_github: FakeGitHub
) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    body = json.dumps(help_comment()).encode()
    forged = webhook.send("issue_comment", body, secret="not-the-secret", delivery="forged-1")
    missing = webhook.send("issue_comment", body, secret=None, delivery="forged-2")
    tampered = webhook.send("issue_comment", body + b" ", headers={"X-Hub-Signature-256": sign(SECRET, body)},
                            secret=None, delivery="forged-3")
    not_json = webhook.send("issue_comment", b"{not json", secret="not-the-secret", delivery="forged-4")
    assert [r.status_code for r in (forged, missing, tampered, not_json)] == [401, 401, 401, 401]
    time.sleep(0.3)
    assert fake_github.requests == []
    assert webhook.service.store.counts() == {}


def test_oversized_body_is_refused(webhook: RunningServer) -> None:
    huge = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert webhook.send("issue_comment", huge).status_code == 413


def test_signed_but_unreadable_deliveries_are_400(webhook: RunningServer) -> None:
    assert webhook.send("issue_comment", b"{not json").status_code == 400
    assert webhook.send("issue_comment", b"[]").status_code == 400
    no_delivery = webhook.send("issue_comment", help_comment(), headers={"X-GitHub-Delivery": ""})
    assert no_delivery.status_code == 400


def test_events_and_comments_not_for_us_are_ignored_without_queueing(webhook: RunningServer) -> None:
    push = webhook.send("push", payloads.load("push", "payload.json"))
    chatter = webhook.send("issue_comment", payloads.comment("LGTM!", repo=REPO))
    on_issue = webhook.send("issue_comment", payloads.comment("/preview up", on_pr=False, repo=REPO))
    edited = webhook.send("issue_comment", payloads.comment("/preview up", action="edited", repo=REPO))
    by_bot = webhook.send("issue_comment", payloads.comment("/preview up", bot=True, repo=REPO))
    for answer in (push, chatter, on_issue, edited, by_bot):
        assert answer.status_code == 200 and answer.json()["message"] == "ignored"
    assert webhook.service.store.counts() == {}


def test_help_is_answered_in_the_background(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    answer = webhook.send("issue_comment", help_comment(), delivery="help-1")
    assert answer.status_code == 202 and answer.json() == {"message": "accepted", "delivery": "help-1"}
    webhook.wait_idle()
    [reply] = fake_github.issue_comments(REPO, 3)
    assert reply["body"].startswith(REPLY_MARKER.format(id=11) + "\n@alice here is what envctl understands")


def test_a_replayed_delivery_does_nothing(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    first = webhook.send("issue_comment", help_comment(), delivery="same-id")
    webhook.wait_idle()
    replay = webhook.send("issue_comment", help_comment(), delivery="same-id")
    webhook.wait_idle()
    assert first.status_code == 202
    assert replay.status_code == 200 and replay.json() == {"message": "duplicate", "delivery": "same-id"}
    assert len(fake_github.issue_comments(REPO, 3)) == 1


def test_a_signed_body_replayed_under_a_new_delivery_id_runs_once(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    body = json.dumps(help_comment()).encode()
    first = webhook.send("issue_comment", body, delivery="original")
    webhook.wait_idle()
    replay = webhook.send("issue_comment", body, delivery="replayed-under-a-new-id")
    webhook.wait_idle()
    assert first.status_code == 202
    assert replay.status_code == 200 and replay.json()["message"] == "duplicate"
    assert len(fake_github.issue_comments(REPO, 3)) == 1
    # another comment (another id) with the same text is a new command
    again = help_comment()
    again["comment"]["id"] += 1
    assert webhook.send("issue_comment", again).status_code == 202


@pytest.mark.parametrize("breaks", ["no comment.id", "comment.id a string", "issue a list", "no comment.user.login",
                                    "labels without names"])
def test_signed_deliveries_missing_fields_envctl_reads_are_400_with_a_log_line(
    webhook: RunningServer, caplog: pytest.LogCaptureFixture, breaks: str,
) -> None:
    if breaks == "labels without names":
        event, payload = "pull_request", payloads.pull_request("closed", repo=REPO)
        payload["pull_request"]["labels"] = [{"color": "ededed"}]
    else:
        event, payload = "issue_comment", help_comment()
        if breaks == "no comment.id":
            del payload["comment"]["id"]
        elif breaks == "comment.id a string":
            payload["comment"]["id"] = "11"
        elif breaks == "issue a list":
            payload["issue"] = []
        else:
            del payload["comment"]["user"]["login"]
    answer = webhook.send(event, payload, delivery=f"broken-{breaks}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith("unreadable payload: webhook payload")
    assert f"broken-{breaks}" in caplog.text and "refused with 400" in caplog.text
    assert webhook.service.store.counts() == {}


def test_a_reader_is_refused_politely(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 4, "b" * 40)
    fake_github.set_permission(REPO, "mallory", "read")
    body = payloads.comment("/preview up --chargers 2", number=4, login="mallory", comment_id=21, repo=REPO)
    assert webhook.send("issue_comment", body).status_code == 202
    webhook.wait_idle()
    [reply] = fake_github.issue_comments(REPO, 4)
    assert "@mallory thanks for trying!" in reply["body"] and "(yours: `read`)" in reply["body"]
    assert fake_github.deployment_list(REPO) == []
    assert fake_github.recorded("GET", rf"/repos/{REPO}/collaborators/mallory/permission")


def test_a_writers_bad_argument_gets_usage_help(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 5, "c" * 40)
    fake_github.set_permission(REPO, "alice", "write")
    body = payloads.comment("/preview up --chargers many", number=5, comment_id=31, repo=REPO)
    webhook.send("issue_comment", body)
    webhook.wait_idle()
    [reply] = fake_github.issue_comments(REPO, 5)
    assert "I could not run that: `--chargers` must be a whole number, got `many`." in reply["body"]
    assert fake_github.deployment_list(REPO) == []


def test_permission_is_cached_briefly(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 6, "d" * 40)
    fake_github.set_permission(REPO, "alice", "maintain", "maintain")
    for i in range(3):
        webhook.send("issue_comment", payloads.comment("/preview frobnicate", number=6, comment_id=40 + i, repo=REPO))
    webhook.wait_idle()
    assert len(fake_github.issue_comments(REPO, 6)) == 3
    assert len(fake_github.recorded("GET", rf"/repos/{REPO}/collaborators/alice/permission")) == 1
