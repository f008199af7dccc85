"""GitHub front door: webhook verification and routing, comment commands, reporting.

Flow (atlantis-shaped):

    server.py (serve)  ─ size, signature.py, triage, deliveries.py (dedupe + persist) ─► jobs.py (per-PR queue)
    cli/webhook/handle ─ triage, deliveries.py, jobs.py in synchronous mode ──────────────┘
                                                                                          │
    router.py ◄───────────────────────────────────────────────────────────────────────────┘
      ├── events.py          payload -> typed event (pure)
      ├── comment_parser.py  comment -> Command | Reply | Ignore (pure)
      ├── policy.py          PR event + settings -> up / down / stale / nothing (pure)
      ├── permissions.py     collaborator permission, cached briefly
      ├── previews.py        runners: up/down/status/extend/stale, calling envctl.envs.service only
      ├── pull_updater.py    the only module that writes to GitHub (markdown.py renders, pure)
      ├── retries.py         which GitHub failures become RetryLater, after how long
      └── client.py          PyGithub clients: token or GitHub App installation; rate-limit retries

    workers.py  Terraform jobs in worker processes ─► terraform.py (TerraformRuns)
      ├── terraform_markdown.py  plan/apply comments split under GitHub's limit, drift issue bodies (pure)
      └── drift_issues.py        drift check results -> one issue per project (the only writer of issues)
"""
