"""Changing a running fleet's shape: `envctl scale` and `envctl rebalance`.

    mover.py      moving chargers between running replicas at a reconnect budget (the release
                  engine's pacing and abort rules), used by both
    service.py    the front door: the runtime's fleet, the guards (no release in progress, one
                  move at a time), scale up / scale down / rebalance
"""
