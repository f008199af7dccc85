"""Capacity from measurement.

    profile.py      CapacityProfile: one replica's measured limits (the JSON `envctl bench capacity` writes)
    loadgen.py      a lean OCPP-J client for load generation, run in processes of its own
    stepload.py     the step-load measurement of one replica (connects, heartbeats, durable messages, memory)
    scrape.py       reading a replica from outside: /metrics histograms, CPU, RSS, open-file limit
    arithmetic.py   pure: fleet + profile -> replicas, requests, storm absorbed, release budget and duration
    plot.py         PNG of load against capacity
"""
