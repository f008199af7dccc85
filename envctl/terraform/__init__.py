"""Terraform on pull requests: the core, shared by `envctl tf ...` and the GitHub front door.

    settings.py      the `terraform:` section of envctl.yaml (pydantic)
    projects.py      configured or discovered projects and their local modules
    autoplan.py      changed files -> the projects they touch (pure)
    driver.py        python-terraform, wrapped so its known traps cannot bite
    runner.py        one project's init/plan/show; a bounded pool for many
    summary.py       show -json -> counts, addresses, outputs (pure)
    redaction.py     sensitive values and patterns -> never written anywhere
    plans.py         saved plans, checked for staleness before an apply
    locks.py         project locks (file + flock); locks_kubernetes.py (Leases)
    requirements.py  approved / mergeable / undiverged (pure)
    drift.py         refresh-only and config drift of the default branch
    service.py       plan / apply over a Repo, used by the CLI and by envctl/github/terraform.py

Nothing here imports envctl.github: the GitHub door renders the comments (github/terraform_markdown.py).
"""
