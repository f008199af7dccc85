from __future__ import annotations

import pytest

from envctl.github.events import BadPayload, CommentEvent, OtherEvent, PingEvent, PullRequestEvent, parse_event, serial_key
from tests.fakes import payloads


def test_issue_comment_fixture_as_is_is_a_comment_on_an_issue() -> None:
    event = parse_event("issue_comment", payloads.load("issue_comment", "created.payload.json"))
    assert isinstance(event, CommentEvent)
    assert (event.repo, event.number, event.is_pull_request) == ("Codertocat/Hello-World", 1, False)
    assert event.author == "Codertocat" and event.comment_id == 492700400 and not event.author_is_bot


def test_comment_on_a_pull_request() -> None:
    event = parse_event("issue_comment", payloads.comment("/preview up", number=9, login="bob", installation=77))
    assert isinstance(event, CommentEvent)
    assert event.is_pull_request and event.number == 9 and event.author == "bob" and event.installation_id == 77
    assert event.body == "/preview up"
    assert serial_key(event) == "Codertocat/Hello-World#9"


@pytest.mark.parametrize("name", ["opened", "closed", "synchronize", "labeled", "reopened", "ready_for_review"])
def test_every_pull_request_fixture_parses(name: str) -> None:
    event = parse_event("pull_request", payloads.load("pull_request", f"{name}.payload.json"))
    assert isinstance(event, PullRequestEvent)
    assert event.action == name and event.number == 2 and len(event.head_sha) == 40
    assert not event.from_fork


def test_fork_and_deleted_fork() -> None:
    forked = parse_event("pull_request", payloads.pull_request("opened", fork="mallory/Hello-World"))
    assert isinstance(forked, PullRequestEvent) and forked.from_fork
    payload = payloads.pull_request("opened")
    payload["pull_request"]["head"]["repo"] = None
    gone = parse_event("pull_request", payload)
    assert isinstance(gone, PullRequestEvent) and gone.head_repo is None and gone.from_fork


def test_labels_and_installation() -> None:
    event = parse_event("pull_request", payloads.pull_request("labeled", labels=("preview",), label="preview"))
    assert isinstance(event, PullRequestEvent)
    assert event.labels == ("preview",) and event.label == "preview"
    assert event.installation_id == 1  # the fixture's installation


def test_ping_and_others() -> None:
    ping = parse_event("ping", payloads.load("ping", "payload.json"))
    assert isinstance(ping, PingEvent) and ping.zen == "Anything added dilutes everything else."
    push = parse_event("push", payloads.load("push", "payload.json"))
    assert push == OtherEvent("push", None)


@pytest.mark.parametrize("payload", [[], {"action": "created"}, {"action": "created", "issue": {}, "comment": {}}])
def test_malformed_payloads_say_what_is_missing(payload: object) -> None:
    with pytest.raises(BadPayload):
        parse_event("issue_comment", payload)  # type: ignore[arg-type]
