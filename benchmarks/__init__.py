"""envctl's benchmarks: scripts that measure speed and scale and write JSON reports.

Run each from the repository root as a module, e.g. `python -m benchmarks.server_connect --report r.json`;
results are kept under benchmarks/results/ and summarised in docs/benchmarks.md.

- `benchmarks/report.py`: the one percentile rule, summaries, the machine a report ran on, writing it.
- `benchmarks/harness/`: what several benchmarks drive (a server process, the webhook, Terraform
  projects, a local fleet through the CLI, the control plane, the dashboard in Chromium).
"""
