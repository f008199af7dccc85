"""The OCPP 1.6J central system ("charger-server") and its admin HTTP API.

    app.py          CentralSystem: wires store, registry, listener, admin server; start/stop/drain
    config.py       ServerConfig and the loading of its files (allowlist, credentials, id tags)
    listener.py     the OCPP listening socket (SO_REUSEPORT, tcp_migrate_req), handshake checks
    connection.py   one charger's connection: receive loop, outbound CALLs under a lock
    router.py       route a CALL by action: validate, run the handler, validate, coded CALLERRORs
    handlers.py     what the central system answers to each charger-initiated action
    registry.py     live connections by charger id (oldest first) and per-charger state
    drain.py        close connections at a pace (Drainer), progress as data
    admin.py        the starlette admin app (health, readiness, metrics, stats, drain, calls)
    metrics.py      counters and histograms kept as plain numbers, exported to Prometheus on scrape
    auth.py         HTTP Basic auth (PBKDF2 hashes, verified-credentials cache), TLS context
"""
