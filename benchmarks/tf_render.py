"""Rendering a real 2,000-resource plan into PR comments (goal: <= 1 s).

Plans once with terraform, then times render_plan() (the diff conversion, grouping, splitting and
UTF-16 accounting) over the summary and the redacted text plan, and checks every part.

    python -m benchmarks.tf_render --resources 2000 --report benchmarks/results/tf_render.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness.terraform import environment, project, quiet_terraform
from benchmarks.report import load, write_report
from envctl.github.terraform_markdown import PlanView, render_plan, units
from envctl.terraform.service import Repo, plan
from envctl.terraform.settings import TerraformConfig
from tests.markdown_check import problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--report", default="benchmarks/results/tf_render.json")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envctl-tf-render-"))
    quiet_terraform(base)
    project(base / "code" / "p", base / "state.tfstate", args.resources)
    repo = Repo.open(base / "code", base / "work", TerraformConfig())
    [result] = plan(repo, repo.projects, lambda _: "0" * 40, "bench")
    assert result.ok and result.summary is not None
    view = PlanView("preview", "p", "default", result.summary, result.plan_text, sha="0" * 40)
    before = load()
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        bodies = render_plan(view)
        times.append(time.perf_counter() - started)
    sizes = [units(b) for b in bodies]
    invalid = [i for i, b in enumerate(bodies, 1) if problems(b)]
    write_report(args.report, {
        "benchmark": "tf_render", "goal": {"render_s": 1.0}, "resources": args.resources,
        "plan_text_chars": len(result.plan_text), "comments": len(bodies), "largest_comment_utf16": max(sizes),
        "limit": 65536, "invalid_parts": invalid,
        "render_s": {"median": round(statistics.median(times), 4), "max": round(max(times), 4)},
        "goal_met": max(times) <= 1.0 and not invalid and max(sizes) <= 65536,
        "terraform_plan_s": round(result.terraform_s, 2),
        "load_average_before_after": [before, load()], "machine": environment(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
