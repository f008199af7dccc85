"""Project discovery, local modules (followed transitively) and autoplan's choice of projects."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.errors import ConfigError, NotFound
from envctl.terraform.autoplan import select_changed
from envctl.terraform.projects import load_projects, local_module_dirs, select
from envctl.terraform.settings import ProjectConfig, TerraformConfig


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


MODULE = 'module "{name}" {{\n  source = "{source}"\n  x = {{ a = 1 }}\n}}\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tree(tmp_path, {
        "envs/a/main.tf": MODULE.format(name="net", source="../../modules/net"),
        "envs/b/main.tf": MODULE.format(name="db", source="../../modules/db") +
                          MODULE.format(name="reg", source="registry.example.com/x/y/z"),
        "envs/c/main.tf": 'resource "terraform_data" "x" {}\n',
        "envs/c/vars.auto.tfvars": "x = 1\n",
        "modules/net/main.tf": MODULE.format(name="base", source="./../base"),
        "modules/base/main.tf": 'resource "terraform_data" "b" {}\n',
        "modules/db/main.tf": 'resource "terraform_data" "d" {}\n',
        "docs/readme.md": "hi\n",
        ".terraform/modules/main.tf": "ignored\n",
    })  # fmt: skip


def test_discovery_finds_roots_and_leaves_modules_out(repo: Path) -> None:
    projects = load_projects(repo, TerraformConfig())
    assert [(p.name, p.dir) for p in projects] == [("envs/a", "envs/a"), ("envs/b", "envs/b"), ("envs/c", "envs/c")]
    assert local_module_dirs(repo, "envs/a") == ["modules/base", "modules/net"]  # transitively
    assert local_module_dirs(repo, "envs/b") == ["modules/db"]  # registry sources are not files of ours


def test_autoplan_picks_exactly_the_changed_projects_and_module_dependents(repo: Path) -> None:
    projects = load_projects(repo, TerraformConfig())

    def chosen(*files: str) -> list[str]:
        return [p.name for p in select_changed(projects, files)]

    assert chosen("envs/c/main.tf") == ["envs/c"]
    assert chosen("envs/c/vars.auto.tfvars") == ["envs/c"]
    assert chosen("modules/base/main.tf") == ["envs/a"]  # two levels down
    assert chosen("modules/db/main.tf", "envs/a/main.tf") == ["envs/a", "envs/b"]
    assert chosen("docs/readme.md", "envs/c/README.md") == []
    assert chosen("envs/c/sub/other.tf") == []  # not in the project's own directory


def test_configured_projects_use_their_globs_workspaces_and_autoplan_flag(repo: Path) -> None:
    config = TerraformConfig(projects=[
        ProjectConfig(name="c-prod", dir="envs/c", workspace="prod", when_modified=["**/*.tf", "*.tfvars"]),
        ProjectConfig(name="c-dev", dir="envs/c", workspace="dev", autoplan=False),
    ])  # fmt: skip
    projects = load_projects(repo, config)
    assert [p.key for p in projects] == [("envs/c", "prod"), ("envs/c", "dev")]
    assert [p.name for p in select_changed(projects, ["envs/c/sub/other.tf"])] == ["c-prod"]
    assert [p.name for p in select_changed(projects, ["envs/c/vars.auto.tfvars"])] == ["c-prod"]
    assert [p.name for p in select_changed(projects, ["envs/c/notes.txt", "envs/c/x.tf.json"])] == []


def test_select_matches_names_against_the_list_never_paths(repo: Path) -> None:
    projects = load_projects(repo, TerraformConfig())
    assert [p.dir for p in select(projects, name="envs/b")] == ["envs/b"]
    assert [p.dir for p in select(projects, directory="envs/c/")] == ["envs/c"]
    with pytest.raises(NotFound) as err:
        select(projects, name="../../etc")
    assert err.value.hint == "projects: envs/a, envs/b, envs/c"


def test_a_configured_dir_without_tf_files_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match="docs has no .tf files"):
        load_projects(repo, TerraformConfig(projects=[ProjectConfig(name="d", dir="docs")]))


def test_requirements_approvals_and_credentials_default_from_the_terraform_section(repo: Path) -> None:
    from envctl.terraform.service import config_from_text

    config = config_from_text("""terraform:
  approvals: 2
  credentials: {plan: [AWS_PROFILE]}
  projects:
    - {name: a, dir: envs/a}
    - name: b
      dir: envs/b
      apply_requirements: []
      approvals: {count: 3, teams: [sre, other-org/platform]}
      credentials:
        plan: {AWS_ACCESS_KEY_ID: B_RO_KEY}
        apply: {AWS_ACCESS_KEY_ID: B_RW_KEY}
""")
    a, b = load_projects(repo, config)
    assert a.apply_requirements == ("approved", "mergeable", "undiverged")  # with none configured
    assert (a.approvals, a.approval_teams, a.plan_env, a.apply_env) == (2, (), (("AWS_PROFILE", "AWS_PROFILE"),), ())
    assert b.apply_requirements == () and (b.approvals, b.approval_teams) == (3, ("sre", "other-org/platform"))
    assert b.plan_env == (("AWS_ACCESS_KEY_ID", "B_RO_KEY"),) and b.apply_env == (("AWS_ACCESS_KEY_ID", "B_RW_KEY"),)


@pytest.mark.parametrize(("credentials", "says"), [
    ("{plan: {GITHUB_TOKEN: MY_TOKEN}}", "GITHUB_TOKEN is one of envctl's own credentials"),
    ("{apply: {TF_VAR_x: ENVCTL_WEBHOOK_SECRET}}", "ENVCTL_WEBHOOK_SECRET is one of envctl's own credentials"),
    ("{plan: [ENVCTL_GITHUB_APP_PRIVATE_KEY]}", "never reaches terraform"),
    ("{plan: {TF_DATA_DIR: X}}", "envctl sets TF_DATA_DIR itself"),
    ("{plan: {'A B': X}}", "is not an environment variable name"),
])  # fmt: skip
def test_envctls_own_credentials_are_never_a_terraform_credential(credentials: str, says: str) -> None:
    from envctl.terraform.service import config_from_text

    with pytest.raises(ConfigError, match=says):
        config_from_text(f"terraform:\n  projects:\n    - name: a\n      dir: a\n      credentials: {credentials}\n")
