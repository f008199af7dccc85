"""A release rehearsal on the Kubernetes runtime: the same measurement as rehearsal.py, with the
environment's pods (servers, simulator, Postgres) running in the cluster and read through the API
server: servers' stats through the pod proxy, the simulator's status and ledger through exec.

The ledger is compared with the environment's Postgres at its pod address, which only a machine
on the pod network can reach (the test cluster's node is this machine): rehearsals are for test
clusters, releases (envctl release) need nothing but a kubeconfig.
"""

from __future__ import annotations

import base64
import gzip
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from envctl.bench import report as report_mod
from envctl.bench import strategies_kubernetes, transactions
from envctl.bench.graceful import graceful
from envctl.bench.options import BenchOptions, Say
from envctl.bench.sampler import Sampler, settle
from envctl.envs.model import EnvSpec
from envctl.errors import ConfigError, EnvctlError
from envctl.release.fleets.kubernetes import KubernetesFleet
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import Kube, kind

LEDGER_FILE = re.compile(r"ledger-w\d+\.jsonl")  # what the simulator names its ledger files


def run(opts: BenchOptions, say: Say) -> dict[str, Any]:
    runtime = KubernetesRuntime()
    name = opts.env_name or f"bench-{opts.strategy}-{int(time.time()) % 100000}"
    run_strategy = {"graceful": graceful, "rolling": strategies_kubernetes.rolling,
                    "recreate": strategies_kubernetes.recreate}.get(opts.strategy)
    if run_strategy is None:
        raise ConfigError(f"unknown strategy {opts.strategy!r}", "use --strategy recreate, rolling or graceful")
    runtime.down(name, force=True)  # its own rehearsal: a release cut short by a failure ends with it
    say(f"bringing up {opts.chargers} chargers on {opts.replicas} replicas of {opts.from_version} (kubernetes)")
    # `up` inside the try: a fleet that never came up (a simulator OOM-killed in a loop, say) must
    # not stay behind and load the machine for whatever runs next
    try:
        runtime.up(EnvSpec(
            name=name, runtime="kubernetes", chargers=opts.chargers, replicas=opts.replicas,
            server_version=opts.from_version, session_rate=opts.session_rate, reconnect="immediate",
            ready_timeout_s=max(180.0, opts.chargers / 20),
        ))  # fmt: skip
        namespace = runtime.namespace(name)
        fleet = KubernetesFleet(runtime.kube, namespace)
        ctx = strategies_kubernetes.KubeStrategyContext(
            kube=runtime.kube, env=name, namespace=namespace, fleet=fleet, from_version=opts.from_version,
            to_version=opts.to_version, replicas=opts.replicas, budget_per_s=opts.budget_per_s, grace_s=opts.grace_s,
            hold_s=opts.hold_s, canary_share=opts.canary_share, new_replica_args=list(opts.new_replica_args),
        )  # fmt: skip
        with Sampler(fleet, opts.to_version) as sampler:
            time.sleep(opts.baseline_s)
            start = time.time()
            say(f"releasing {opts.from_version} → {opts.to_version} ({opts.strategy})")
            detail = run_strategy(ctx)
            released_at = time.time()
            say("waiting for every charger to be back")
            settled_at = settle(fleet, opts.chargers, opts.settle_timeout_s)
            time.sleep(opts.tail_s)
        time.sleep(1.5)  # the simulator flushes its ledger at least once a second
        tx = _transactions(runtime.kube, namespace)
        return report_mod.build(
            strategy=opts.strategy, chargers=opts.chargers, replicas=opts.replicas,
            budget_per_s=opts.budget_per_s if opts.strategy == "graceful" else None, sampler=sampler,
            start=start, released_at=released_at, settled_at=settled_at, transactions=tx, detail=detail,
            extra={"runtime": "kubernetes", "grace_s": opts.grace_s if opts.strategy != "graceful" else None,
                   "session_rate": opts.session_rate, "env": name, "from_version": opts.from_version,
                   "to_version": opts.to_version},
        )  # fmt: skip
    finally:
        if not opts.keep:
            say(f"removing {name}")
            runtime.down(name, force=True)  # its own rehearsal: a release cut short by a failure ends with it


def _transactions(kube: Kube, namespace: str) -> dict[str, Any]:
    """The simulator's ledger (copied out of its pod) against the environment's Postgres."""
    pod = kube.list(kind("Pod").path(namespace), labelSelector="app.kubernetes.io/name=charger-simulator")[0]
    sim = pod["metadata"]["name"]
    with tempfile.TemporaryDirectory(prefix="envctl-ledger-") as tmp:
        for fname in kube.exec(namespace, sim, "simulator", ["ls", "/status/ledger"]).split():
            if not LEDGER_FILE.fullmatch(fname):
                continue
            # compressed in the pod: the exec stream's client slows down with the square of what it
            # carries, and a 10,000-charger ledger of a long rehearsal is tens of MB of JSON lines
            packed = kube.exec(namespace, sim, "simulator",
                               ["sh", "-c", f"gzip -c /status/ledger/{fname} | base64 -w0"], timeout=300)
            (Path(tmp) / fname).write_bytes(gzip.decompress(base64.b64decode(packed)))
        return transactions.count(tmp, _database_url(kube, namespace))


def _database_url(kube: Kube, namespace: str) -> str:
    data = kube.get(kind("Secret").path(namespace, "envctl-credentials"))["data"]
    password = base64.b64decode(data["postgres-password"]).decode()
    pods = kube.list(kind("Pod").path(namespace), labelSelector="app.kubernetes.io/name=postgres")
    if not pods or not pods[0].get("status", {}).get("podIP"):
        raise EnvctlError(f"no running Postgres pod in {namespace}", "the rehearsal needs the environment's database")
    return f"postgresql://envctl:{password}@{pods[0]['status']['podIP']}:5432/envctl"
