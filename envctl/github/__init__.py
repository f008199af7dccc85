"""GitHub front door: webhook verification and routing, comment commands, reporting.

Flow (atlantis-shaped):

    server.py / cli handle ──► intake.py (size, signature, dedupe, persist) ──► jobs.py (per-PR queue)
                                                                                   │
    router.py ◄────────────────────────────────────────────────────────────────────┘
      ├── events.py          payload -> typed event (pure)
      ├── comment_parser.py  comment -> Command | Reply | Ignore (pure)
      ├── policy.py          PR event + settings -> up / down / stale / nothing (pure)
      ├── permissions.py     collaborator permission, cached briefly
      ├── previews.py        runners: up/down/status/extend, calling envctl.envs.service only
      └── pull_updater.py    the only module that writes to GitHub (markdown.py renders, pure)
"""
