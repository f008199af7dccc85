"""`envctl tf plan/apply/locks/unlock` on real terraform: counts, addresses, saved plans, staleness."""

from __future__ import annotations

from pathlib import Path

from envctl.terraform.locks import FileLockStore, Lock
from tests.fixtures.terraform import tf_block
from tests.integration.terraform.conftest import Cli
from tests.markdown_check import problems


def write(code: Path, states: Path, body: str) -> None:
    (code / "envctl.yaml").write_text("terraform:\n  projects:\n    - name: net\n      dir: net\n")
    (code / "net").mkdir(exist_ok=True)
    (code / "net" / "main.tf").write_text(tf_block(states / "net.tfstate") + body)


FIRST = """
resource "terraform_data" "keep" { input = "same" }
resource "terraform_data" "change" { input = "1" }
resource "terraform_data" "swap" { triggers_replace = ["x"] }
resource "terraform_data" "gone" { input = "bye" }
"""
SECOND = """
resource "terraform_data" "keep" { input = "same" }
resource "terraform_data" "change" { input = "2" }
resource "terraform_data" "swap" { triggers_replace = ["y"] }
resource "terraform_data" "new" { input = "hello" }
"""


def test_counts_and_addresses_for_create_update_replace_delete(cli: Cli, code_dir: Path, tmp_path: Path) -> None:
    states = tmp_path / "states"
    write(code_dir, states, FIRST)
    first = cli("tf", "plan", "--output", "json")
    assert first.code == 0, first.err
    [project] = first.json()["projects"]
    assert project["changes"] == {"create": 4, "update": 0, "replace": 0, "delete": 0} and project["has_changes"]
    assert cli("tf", "apply", "--project", "net").code == 0

    write(code_dir, states, SECOND)
    second = cli("tf", "plan", "--project", "net", "--output", "json")
    data = second.json()
    [project] = data["projects"]
    assert (project["name"], project["dir"], project["workspace"]) == ("net", "net", "default")
    assert project["changes"] == {"create": 1, "update": 1, "replace": 1, "delete": 1} and project["no_op"] == 1
    actions = {r["address"]: r["actions"] for r in project["resources"]}
    assert actions["terraform_data.new"] == ["create"] and actions["terraform_data.change"] == ["update"]
    assert sorted(actions["terraform_data.swap"]) == ["create", "delete"] and actions["terraform_data.gone"] == ["delete"]
    assert "terraform_data.keep" not in actions
    assert all(problems(body) == [] for body in data["comments"])

    markdown = cli("tf", "plan", "--dir", "net", "--output", "markdown")
    assert markdown.code == 0 and markdown.out.startswith("<!-- envctl:terraform:plan project=net part=1/1 -->")
    assert "1 to create, 1 to update, 1 to replace, 1 to delete, 1 unchanged" in markdown.out

    text = cli("tf", "plan")
    assert text.code == 0 and "net" in text.out and "changes" in text.out

    applied = cli("tf", "apply", "--output", "json")
    assert applied.code == 0 and applied.json()["projects"][0]["ok"]
    again = cli("tf", "plan", "--output", "json").json()["projects"][0]
    assert again["has_changes"] is False and again["no_op"] == 4


def test_stale_plans_unknown_projects_and_locks_are_refused_clearly(cli: Cli, code_dir: Path, tmp_path: Path,
                                                                   tf_env: Path) -> None:
    states = tmp_path / "states"
    write(code_dir, states, FIRST)
    assert cli("tf", "plan").code == 0
    write(code_dir, states, SECOND)  # the code changed after the plan
    stale = cli("tf", "apply", "--project", "net")
    assert stale.code == 4 and "stale" in stale.err and "envctl tf plan" in stale.err + stale.out
    assert not (states / "net.tfstate").exists()

    missing = cli("tf", "plan", "--project", "nope")
    assert missing.code == 3 and "there is no project 'nope'" in missing.err and "projects: net" in missing.err
    nothing = cli("tf", "apply", "--project", "net", "--output", "json")
    assert nothing.code == 4 and '"error": "refused"' in nothing.err  # still stale, as JSON on stderr

    assert cli("tf", "plan").code == 0
    store = FileLockStore(tf_env / "terraform" / "locks.json")
    store.acquire(Lock("local", "net", "default", 41, "net", "carol", "a" * 40, "2026-01-01T00:00:00Z"))
    locked = cli("tf", "apply")
    assert locked.code == 4 and "locked by pull request local#41 (carol)" in locked.err
    listed = cli("tf", "locks", "--output", "json").json()["locks"]
    assert [(lk["project"], lk["pull"], lk["holder"]) for lk in listed] == [("net", 41, "local#41")]
    assert cli("tf", "unlock").code == 2  # says which lock to release
    released = cli("tf", "unlock", "--project", "net", "--output", "json")
    assert released.code == 0 and released.json()["released"][0]["pull"] == 41
    assert cli("tf", "unlock", "--project", "net").code == 3
    assert cli("tf", "apply").code == 0 and (states / "net.tfstate").exists()


def test_bad_configuration_is_a_clear_error(cli: Cli, code_dir: Path) -> None:
    (code_dir / "envctl.yaml").write_text("terraform:\n  projects:\n    - name: x\n      dir: ../outside\n")
    bad = cli("tf", "plan")
    assert bad.code == 2 and "terraform.projects.0.dir" in bad.err and "inside the repository" in bad.err


def test_outside_a_repository_only_the_working_directory_is_searched(cli: Cli, tmp_path: Path) -> None:
    """From a shared directory such as /tmp, other people's subdirectories are never planned."""
    shared = tmp_path / "shared"
    for owner in ("someone", "someone-else"):
        (shared / owner).mkdir(parents=True)
        (shared / owner / "main.tf").write_text('resource "terraform_data" "theirs" {}\n')
    outside = Cli(shared, [])
    refused = outside("tf", "plan", "--output", "json")
    assert refused.code == 3, refused.out + refused.err
    said = " ".join(refused.err.split())
    assert "not inside a git repository" in said and "not in its subdirectories" in said, said
    assert not list(shared.rglob("*.tfplan")) and not list(shared.rglob(".terraform*"))

    mine = Cli(shared / "someone", [])
    planned = mine("tf", "plan", "--output", "json")
    assert planned.code == 0, planned.err
    assert [(p["name"], p["dir"]) for p in planned.json()["projects"]] == [("root", ".")]


def test_a_dir_outside_the_repository_is_named_as_such(cli: Cli, code_dir: Path, tmp_path: Path) -> None:
    write(code_dir, tmp_path / "states", FIRST)
    (tmp_path / "x").mkdir()
    outside = cli("tf", "plan", "--dir", str(tmp_path / "x"))
    assert outside.code == 3
    said = " ".join(outside.err.split())  # the terminal wraps long lines
    assert f"--dir {tmp_path / 'x'} is outside the repository ({code_dir.resolve()})" in said, said
    assert "no a project" not in said
    missing = cli("tf", "plan", "--dir", "nowhere")
    assert missing.code == 3 and "there is no project in 'nowhere'" in " ".join(missing.err.split()), missing.err


def test_nested_repositories_are_not_searched(cli: Cli, code_dir: Path, tmp_path: Path) -> None:
    write(code_dir, tmp_path / "states", FIRST)
    (code_dir / "envctl.yaml").unlink()  # no project list: found by searching the repository
    vendored = code_dir / "vendor" / "other-repo"
    (vendored / ".git").mkdir(parents=True)
    (vendored / "main.tf").write_text('resource "terraform_data" "not_ours" {}\n')
    planned = cli("tf", "plan", "--output", "json")
    assert planned.code == 0, planned.err
    assert [p["dir"] for p in planned.json()["projects"]] == ["net"]
