"""Release rehearsals and load runs: bring up a fleet, release it one way, measure, report.

    sampler.py       samples the fleet (replica /admin/stats) and the simulator status every second
    strategies.py    recreate, rolling (SIGTERM, SIGKILL after a grace) and graceful (the release engine)
    transactions.py  the whole transaction history, ledger against the server DB, and its pass/fail
    report.py        the DESIGN.md report contract, built from the samples
    plot.py          the PNG timeline (matplotlib, headless)
    rehearsal.py     one rehearsal end to end: up, release, settle, count, report, down
"""
