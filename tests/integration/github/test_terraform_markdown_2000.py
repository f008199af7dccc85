"""A real 2,000-resource plan from terraform, rendered into PR comments: each within GitHub's limit,
each valid markdown on its own (markdown-it-py), nothing lost across the split."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envctl.github.terraform_markdown import MARKER_RE, PlanView, render_plan, units
from envctl.terraform.service import Repo, plan
from envctl.terraform.settings import TerraformConfig
from tests.markdown_check import problems

N = 2000


@pytest.mark.timeout(300)
def test_a_2000_resource_plan_renders_into_valid_comments(tmp_path: Path, tf_env: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.tf").write_text(f"""
resource "terraform_data" "record" {{
  count = {N}
  input = {{ name = "pr-${{count.index}}.preview.example.com", type = "CNAME", value = "ingress.example.com" }}
}}
""")
    repo = Repo.open(code, tmp_path / "work", TerraformConfig())
    [result] = plan(repo, repo.projects, lambda _: "c" * 40, "tester")
    assert result.ok and result.summary is not None and result.summary.changes["create"] == N
    p = result.project
    bodies = render_plan(PlanView(p.name, p.dir, p.workspace, result.summary, result.plan_text, sha="c" * 40))
    assert len(bodies) > 5
    for number, body in enumerate(bodies, start=1):
        assert units(body) <= 65_536
        match = MARKER_RE.match(body)
        assert match and match["part"] == str(number) and match["parts"] == str(len(bodies))
        assert problems(body) == [], f"part {number} of {len(bodies)}: {problems(body)}"
    joined = "".join(bodies)
    listed = set(re.findall(r"^- `(terraform_data\.record\[\d+\])`$", joined, re.MULTILINE))
    assert listed == {f"terraform_data.record[{i}]" for i in range(N)}
    planned = set(re.findall(r"^  # (terraform_data\.record\[\d+\]) will be created$", joined, re.MULTILINE))
    assert len(planned) == N  # the full plan survived the split, block by block
