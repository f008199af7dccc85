"""8 projects planned in parallel (a bounded pool, each its own TF_DATA_DIR) vs one after another.

    python -m benchmarks.tf_parallel --projects 8 --resources 300 --report benchmarks/results/tf_parallel.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.harness.terraform import environment, project, quiet_terraform
from benchmarks.report import load, write_report
from envctl.terraform.service import Repo, plan
from envctl.terraform.settings import TerraformConfig


def timed(base: Path, parallelism: int, rounds: int) -> dict[str, object]:
    walls, terraform = [], []
    for r in range(rounds):
        repo = Repo.open(base / "code", base / f"work-{parallelism}-{r}", TerraformConfig(parallelism=parallelism))
        started = time.perf_counter()
        results = plan(repo, repo.projects, lambda _: "0" * 40, "bench")
        walls.append(time.perf_counter() - started)
        terraform.append(sum(x.terraform_s for x in results))
        assert all(x.ok for x in results)
    return {"parallelism": parallelism, "wall_s": [round(w, 2) for w in walls], "best_wall_s": round(min(walls), 2),
            "terraform_s_summed": round(min(terraform), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=8)
    ap.add_argument("--resources", type=int, default=300, help="terraform_data resources per project")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--report", default="benchmarks/results/tf_parallel.json")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envctl-tf-parallel-"))
    quiet_terraform(base)
    for i in range(args.projects):
        project(base / "code" / f"p{i}", base / "states" / f"p{i}.tfstate", args.resources)
    before = load()
    serial = timed(base, 1, args.rounds)
    parallel = timed(base, args.projects, args.rounds)
    bounded = timed(base, 2, args.rounds)
    write_report(args.report, {
        "benchmark": "tf_parallel", "projects": args.projects, "resources_per_project": args.resources,
        "one_after_another": serial, "parallel_8": parallel, "parallel_2": bounded,
        "speedup_8": round(serial["best_wall_s"] / parallel["best_wall_s"], 2),  # type: ignore[operator]
        "speedup_2": round(serial["best_wall_s"] / bounded["best_wall_s"], 2),  # type: ignore[operator]
        "load_average_before_after": [before, load()], "machine": environment(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
