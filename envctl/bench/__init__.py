"""Release rehearsals and load runs: bring up a fleet, release it one way, measure, report.

    options.py       what a rehearsal is asked to do (BenchOptions), whatever the runtime
    sampler.py       samples the fleet (replica /admin/stats) and the simulator status every second,
                     and tells when every charger is back (settle)
    strategies.py    recreate, rolling (SIGTERM, SIGKILL after a grace) locally, and which strategy runs
    graceful.py      graceful: the release engine itself, on either runtime
    transactions.py  the whole transaction history, ledger against the server DB, and its pass/fail
    report.py        the DESIGN.md report contract, built from the samples
    plot.py          the PNG timeline (matplotlib, headless)
    rehearsal.py     one rehearsal end to end: up, release, settle, count, report, down (local runtime;
                     hands a Kubernetes one to rehearsal_kubernetes.py, which never imports it back)
    strategies_kubernetes.py  recreate and rolling on Kubernetes (graceful is the same engine everywhere)
"""
