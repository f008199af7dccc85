"""envctl's overhead on top of terraform's own time, per project (goal: <= 0.3 s).

For each size, plans one project through envctl's core (init, plan -out, show -json, show, then
summary, redaction, hashing, saving the plan record) and renders its comments; terraform's own
time is the sum of its subprocesses' wall time, measured around each one. The overhead is the
rest. The CLI figure adds a whole `envctl tf plan --output json` process (interpreter start and
imports included).

    python -m benchmarks.tf_overhead --report benchmarks/results/tf_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness.terraform import ROOT, environment, project, quiet_terraform
from benchmarks.report import load, write_report
from envctl.github.terraform_markdown import PlanView, render_plan
from envctl.terraform.service import Repo, plan
from envctl.terraform.settings import TerraformConfig


def core_run(base: Path, resources: int, runs: int) -> dict[str, object]:
    code = base / f"code-{resources}"
    project(code / "p", base / f"state-{resources}.tfstate", resources)
    overheads, terraform, totals = [], [], []
    for i in range(runs + 1):
        repo = Repo.open(code, base / f"work-{resources}", TerraformConfig())
        started = time.perf_counter()
        [result] = plan(repo, repo.projects, lambda _: "0" * 40, "bench")
        p = result.project
        bodies = render_plan(PlanView(p.name, p.dir, p.workspace, result.summary, result.plan_text, sha="0" * 40))
        wall = time.perf_counter() - started
        assert result.ok and bodies
        if i == 0:
            continue  # warm-up: imports, page cache
        overheads.append(wall - result.terraform_s)
        terraform.append(result.terraform_s)
        totals.append(wall)
    return {"resources": resources, "runs": runs, "overhead_s": {"median": round(statistics.median(overheads), 4),
            "max": round(max(overheads), 4)}, "terraform_s_median": round(statistics.median(terraform), 3),
            "total_s_median": round(statistics.median(totals), 3)}


def cli_run(base: Path, resources: int, runs: int) -> dict[str, object]:
    code = base / f"code-{resources}"
    overheads = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "envctl", "tf", "plan", "--output", "json"], cwd=code,
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        [p] = json.loads(done.stdout)["projects"]
        overheads.append(wall - p["timings"]["terraform_s"])
    return {"resources": resources, "runs": runs, "overhead_s_median": round(statistics.median(overheads), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 200, 2000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--report", default="benchmarks/results/tf_overhead.json")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envctl-tf-overhead-"))
    quiet_terraform(base)
    os.environ["ENVCTL_STATE_DIR"] = str(base / "state")
    before = load()
    core = [core_run(base, n, args.runs) for n in args.sizes]
    cli = [cli_run(base, n, max(2, args.runs // 2)) for n in args.sizes]
    worst = max(c["overhead_s"]["median"] for c in core)  # type: ignore[index]
    write_report(args.report, {
        "benchmark": "tf_overhead", "goal": {"overhead_s_per_project": 0.3},
        "core": core, "cli_process": cli, "goal_met": worst <= 0.3,
        "load_average_before_after": [before, load()], "machine": environment(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
