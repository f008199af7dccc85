"""8 independent projects planned at once, each with its own TF_DATA_DIR, in a bounded pool."""

from __future__ import annotations

from pathlib import Path

from envctl.terraform.runner import PlanResult
from envctl.terraform.service import Repo, plan
from envctl.terraform.settings import TerraformConfig
from tests.fixtures.terraform import tf_block

MODULE = 'module "common" {\n  source = "../modules/common"\n  name   = "%s"\n}\n'


def make_repo(root: Path, states: Path, n: int) -> None:
    (root / "modules" / "common").mkdir(parents=True)
    (root / "modules" / "common" / "main.tf").write_text(
        'variable "name" { type = string }\nresource "terraform_data" "r" {\n  count = 20\n'
        '  input = "${var.name}-${count.index}"\n}\n')
    for i in range(n):
        d = root / f"p{i}"
        d.mkdir()
        (d / "main.tf").write_text(tf_block(states / f"p{i}.tfstate") + MODULE % f"p{i}")


def most_at_once(results: list[PlanResult]) -> int:
    edges = sorted([(r.started_at, 1) for r in results] + [(r.started_at + r.total_s, -1) for r in results])
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def test_eight_projects_plan_in_parallel_within_the_bound(tmp_path: Path, tf_env: Path) -> None:
    make_repo(tmp_path / "code", tmp_path / "states", 8)
    for parallelism, expect_at_most in ((8, 8), (3, 3), (1, 1)):
        repo = Repo.open(tmp_path / "code", tmp_path / f"work-{parallelism}", TerraformConfig(parallelism=parallelism))
        assert len(repo.projects) == 8  # the common module is not a project of its own
        results = plan(repo, repo.projects, lambda _: "a" * 40, "tester")
        assert [r.project.name for r in results] == [f"p{i}" for i in range(8)]  # input order kept
        assert all(r.ok and r.summary and r.summary.changes["create"] == 20 for r in results)
        at_once = most_at_once(results)
        assert at_once <= expect_at_most
        if parallelism > 1:
            assert at_once > 1, "projects did not overlap"
        data_dirs = {repo.plans.work_dir(r.project) / "tfdata" for r in results}
        assert len(data_dirs) == 8 and all((d / "modules" / "modules.json").exists() for d in data_dirs)
        assert not any((tmp_path / "code" / f"p{i}" / ".terraform").exists() for i in range(8))


def test_relative_paths_work_from_any_directory(tmp_path: Path, tf_env: Path, monkeypatch: object) -> None:
    make_repo(tmp_path / "code", tmp_path / "states", 1)
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    repo = Repo.open(Path("code"), Path("work"), TerraformConfig())
    [result] = plan(repo, repo.projects, lambda _: "a" * 40, "tester")
    assert result.ok, result.error
