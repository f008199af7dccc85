"""Capacity from measurement.

    profile.py      CapacityProfile: one replica's measured limits (the JSON `envctl bench capacity` writes)
    stepload.py     the step-load measurement of one replica (memory, connects, heartbeats, durable messages)
    loadgen.py      load-generator processes: open-loop, paced steps of OCPP work
    rawcharger.py   the lean OCPP-J client they (and benchmarks/) use
    scrape.py       reading a replica from outside: /metrics histograms, CPU, RSS, open-file limit
    arithmetic.py   pure: fleet + profile -> replicas, requests, storm absorbed, release budget and duration
    requests.py     CPU and memory requests as Kubernetes writes them
    service.py      `envctl capacity`'s core: profile from envctl.yaml, sizing, optional PNG
    plot.py         PNG of load against capacity
    settings.py     envctl.yaml `capacity:`
"""
