"""Split plan comments are edited in place part by part; surplus parts are deleted (PyGithub -> fake API)."""

from __future__ import annotations

from github import Auth, Github

from envctl.github.pull_updater import PullUpdater
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO


def bodies(project: str, parts: int, text: str) -> list[str]:
    return [f"<!-- envctl:terraform:plan project={project} part={i}/{parts} -->\n{text} {i}" for i in range(1, parts + 1)]


def test_parts_are_edited_in_place_and_surplus_ones_deleted(fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    gh = Github(auth=Auth.Token(fake_github.token), base_url=fake_github.url)
    updater = PullUpdater(gh, REPO, 3)
    first = updater.upsert_parts("plan", "app", bodies("app", 3, "first"))
    other = updater.upsert_parts("plan", "db", bodies("db", 1, "db"))
    assert len(first) == 3
    second = updater.upsert_parts("plan", "app", bodies("app", 1, "second"))
    assert second == first[:1]  # part 1 edited in place
    left = fake_github.issue_comments(REPO, 3)
    assert [c["id"] for c in left] == [first[0], other[0]]
    assert left[0]["body"].endswith("second 1") and left[0]["_edits"] == 1
    assert updater.upsert_parts("plan", "app", bodies("app", 1, "second")) == first[:1]
    assert fake_github.issue_comments(REPO, 3)[0]["_edits"] == 1  # unchanged body: not even an edit
    updater.upsert_parts("apply", "app", ["<!-- envctl:terraform:apply project=app part=1/1 -->\napplied"])
    assert len(fake_github.issue_comments(REPO, 3)) == 3  # apply results are their own kind
    assert [r.method for r in fake_github.recorded(path=r"/repos/.+/issues/comments/\d+")].count("DELETE") == 2
    gh.close()


def test_commit_statuses_are_set_per_project(fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 4, "b" * 40)
    gh = Github(auth=Auth.Token(fake_github.token), base_url=fake_github.url)
    updater = PullUpdater(gh, REPO, 4)
    updater.set_status("b" * 40, "pending", "envctl/plan: app", "planning…")
    updater.set_status("b" * 40, "success", "envctl/plan: app", "x" * 200)  # cut to GitHub's 140
    updater.set_status("b" * 40, "failure", "envctl/plan: db", "locked by #3")
    assert fake_github.latest_statuses(REPO, "b" * 40) == {"envctl/plan: app": "success", "envctl/plan: db": "failure"}
    assert [s["state"] for s in fake_github.commit_status_list(REPO, "b" * 40)] == ["pending", "success", "failure"]
    gh.close()
