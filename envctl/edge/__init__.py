"""The charger edge: terminates chargers' WebSockets, holds one upstream per charger to a pool of
versioned backends, and moves chargers between backends without the charger noticing.

    framing.py   the OCPP-J frame's type and id from its head (nothing else is read)
    wire.py      RFC 6455 frames by hand for the data path (websockets' C masking)
    hop.py       one open connection: messages by callback, pings answered, close per hop, backpressure
    charger_side.py  the charger's handshake (websockets Sans-I/O server), waiting for the gateway
    upstream.py  open an upstream (websockets Sans-I/O client) carrying the charger's path,
                 subprotocol, Authorization and certificate subject
    session.py   one charger: outstanding CALLs per direction, hold/switch/re-home, close codes
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
