"""Warm capacity for previews: placeholder ("balloon") pods that hold room for preview environments.

A placeholder has a PriorityClass below every workload, requests sized to one preview
environment, and a process that does nothing. A new preview's pods preempt placeholders and are
scheduled at once; the evicted placeholders' Deployment recreates them, they go Pending, and a
cluster autoscaler adds a node for them (in a cluster that has one) - ahead of the next preview.

    settings.py   envctl.yaml `warm:` (how many placeholders, where)
    sizing.py     one preview environment's requests, from the same templates `envctl up` renders
    pool.py       render and apply the pool (templates/warm/), and read its status
"""
