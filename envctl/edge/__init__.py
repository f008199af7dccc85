"""The charger edge: terminates chargers' WebSockets, holds one upstream per charger to a pool of
versioned backends, and moves chargers between backends without the charger noticing.

    framing.py   the OCPP-J frame's type and id by a byte scan (nothing else is read)
    session.py   one charger: the two pumps, outstanding CALLs per direction, hold/switch/re-home
    upstream.py  open an upstream carrying the charger's path, subprotocol, Authorization, cert subject
    gateway.py   the charger-facing listener; a handshake is answered only after the backend's answer
    backends.py  the pool of versioned backends and their states (up, leaving, down)
    pacer.py     one move start per 1/rate seconds; the fleet-wide budget split across processes
    mover.py     operator move jobs and re-homing of chargers whose backend went away
    admin.py     the admin HTTP API (token on every mutating route), health, readiness, metrics
    metrics.py   the counters, exported to Prometheus with bounded label sets
    config.py    EdgeConfig and its checks
    app.py       Edge: wires it all in one event loop; __main__.py runs it as a process

Design and decisions: docs/edge.md.
"""
