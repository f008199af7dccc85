"""The OCPP 1.6J central system ("charger-server") and its admin HTTP API.

    app.py          CentralSystem: wires store, registry, listener, admin server; start/stop/drain
    config.py       ServerConfig and the loading of its files (allowlist, credentials, id tags)
    listener.py     the OCPP listening socket (SO_REUSEPORT, tcp_migrate_req), handshake checks
    connection.py   one charger's connection: receive loop, outbound CALLs under a lock
    router.py       route a CALL by action: validate, run the handler, validate, coded CALLERRORs
    handlers.py     what the central system answers to each charger-initiated action
    registry.py     live connections by charger id (oldest first) and per-charger state
    ownership.py    fleet-wide ownership: claim on connect, release on close, close on takeover
    admission.py    the accept-rate limit on new handshakes (503 + Retry-After at TCP accept)
    drain.py        close connections at a pace (Drainer), progress as data
    admin.py        the starlette admin app (health, readiness, metrics, stats, drain, listen, disconnect)
    admin_chargers.py  the charger endpoints, answering for the whole fleet (forwarding.py)
    forwarding.py   find a charger's owning replica in the store and forward its admin request there
    admin_token.py  the bearer token the mutating admin endpoints require (ENVCTL_ADMIN_TOKEN)
    admin_errors.py request parsing for the admin API (BadRequest -> 422)
    admin_client.py the one client of that admin API (its paths, headers, error mapping), sync and async
    metrics.py      counters and histograms kept as plain numbers, exported to Prometheus on scrape
    auth.py         HTTP Basic auth (PBKDF2 hashes, verified-credentials cache), TLS context
"""
