"""The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
and (unless ENVCTL_CP_REAL_NODE=0) the real node of cluster/node.py.

With the real node the API server listens on the node's bridge address instead of 127.0.0.1, so
pods reach it through the ``kubernetes`` Service (its endpoints are the bridge address) exactly as
in a cluster; kwok's fake nodes are then tainted, so only workloads that tolerate them (scale
tests) land there and every other pod really runs.
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
import urllib.request
from pathlib import Path

from cluster import node
from cluster.api import Api
from cluster.build import build, build_complete
from cluster.common import (
    BIN_DIR, COMPONENTS, ETCD_VERSION, FAKE_NODE_ANNOTATION, KUBE_VERSION, KWOK_VERSION, NODE_COUNT, POD_CIDR,
    RUN_DIR, SERVICE_CIDR, STAGES_DIR, Component, Error, RunLock, free_port, log, wait_for,
)
from cluster.pki import make_pki, write_kubeconfig

FAKE_NODE_TAINT = {"key": FAKE_NODE_ANNOTATION, "value": "fake", "effect": "NoSchedule"}


def state_path(run: Path) -> Path:
    return run / "state.json"


def load_state(run: Path) -> dict | None:
    try:
        return json.loads(state_path(run).read_text())
    except (OSError, ValueError):
        return None


def kubeconfig_path(run: Path) -> Path:
    return run / "kubeconfig"


def components(run: Path) -> list[str]:
    st = load_state(run) or {}
    return [*COMPONENTS, *(node.COMPONENTS if st.get("real_node") else [])]


def running_components(run: Path) -> dict:
    return {c: Component(run, c).pid() for c in components(run)}


def is_healthy(run: Path) -> bool:
    st = load_state(run)
    if not st or not all(running_components(run).values()):
        return False
    return Api(run, st["server"]).ok("/readyz")


def envctl_config_path(run: Path) -> Path:
    return run / "envctl.yaml"


def write_envctl_config(run: Path, images: dict) -> None:
    """The envctl.yaml that runs previews from the images imported into the real node: without it a
    preview asks for envctl's default image, which this offline node cannot pull (ImagePullBackOff)."""
    envctl_config_path(run).write_text(
        "# written by scripts/control-plane start; `eval \"$(scripts/control-plane env)\"` points ENVCTL_CONFIG here\n"
        "kubernetes:\n"
        f"  image: {images['envctl']}\n"
        "  image_pull_policy: Never  # imported into the node: nothing to pull\n"
        "  database:\n"
        f"    postgres_image: {images['postgres']}\n"
    )


def env_line(run: Path) -> str:
    """What `env` prints: KUBECONFIG, and with a real node ENVCTL_CONFIG naming its images."""
    lines = [f"export KUBECONFIG={kubeconfig_path(run)}"]
    if envctl_config_path(run).exists():
        lines.append(f"export ENVCTL_CONFIG={envctl_config_path(run)}")
    return "\n".join(lines)


def start(run: Path = RUN_DIR) -> None:
    t0 = time.monotonic()
    missing = node.missing_host_tools() if node.enabled() else {}
    if missing:
        raise Error(
            "the real node needs what this machine lacks: "
            + ", ".join(f"{cmd} (Debian package {pkg})" for cmd, pkg in missing.items())
            + "; install them with scripts/install-deps (or ENVCTL_CP_REAL_NODE=0 for a control plane without a node)"
        )
    build()
    with RunLock(run):
        if is_healthy(run):
            log(f"already running (run dir {run})")
            print(env_line(run), flush=True)
            return
        if any(running_components(run).values()):
            log("some components are down; restarting the control plane")
        _stop_locked(run, quiet=True)
        try:
            _start_locked(run)
        except BaseException:
            log("start failed; stopping what was started")
            _stop_locked(run, quiet=True)
            raise
    log(f"control plane ready in {time.monotonic() - t0:.1f}s; "
        f"kubeconfig {kubeconfig_path(run)}")
    print(env_line(run), flush=True)


def _start_locked(run: Path) -> None:
    # Fresh state every start: a test cluster starts empty.
    for sub in ("etcd", "pki", "pids", "logs", "kubeconfigs", "kwok", "certs"):
        shutil.rmtree(run / sub, ignore_errors=True)
    for f in ("state.json", "kubeconfig", "envctl.yaml"):
        (run / f).unlink(missing_ok=True)
    real_node = node.enabled()
    if real_node:
        node.prepare(run)
    host = node.NODE_IP if real_node else "127.0.0.1"
    pki = run / "pki"
    if real_node:
        make_pki(pki, apiserver_ips=(node.NODE_IP,), clients=node.CLIENT_CERTS, servers=node.SERVER_CERTS)
    else:
        make_pki(pki)

    ports = {"etcd": free_port(), "etcd_peer": free_port(), "apiserver": free_port(),
             "controller_manager": free_port(), "scheduler": free_port()}
    if len(set(ports.values())) != len(ports):
        raise Error(f"port clash, try again: {ports}")
    server = f"https://{host}:{ports['apiserver']}"
    kcs = run / "kubeconfigs"
    kcs.mkdir(parents=True)
    write_kubeconfig(kubeconfig_path(run), server, pki, "envctl-admin", "admin")
    write_kubeconfig(kcs / "controller-manager.kubeconfig", server, pki,
                     "system:kube-controller-manager", "controller-manager")
    write_kubeconfig(kcs / "scheduler.kubeconfig", server, pki,
                     "system:kube-scheduler", "scheduler")
    write_kubeconfig(kcs / "kwok.kubeconfig", server, pki, "envctl-kwok", "kwok")
    state = {"kubernetes": f"v{KUBE_VERSION}", "etcd": f"v{ETCD_VERSION}",
             "kwok": f"v{KWOK_VERSION}", "ports": ports, "server": server,
             "kubeconfig": str(kubeconfig_path(run)), "bin": str(BIN_DIR),
             "real_node": real_node, "started": datetime.datetime.now().isoformat()}
    state_path(run).write_text(json.dumps(state, indent=2) + "\n")

    b = lambda n: str(BIN_DIR / n)  # noqa: E731
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    (run / "etcd").mkdir(mode=0o700)
    log(f"starting etcd on {etcd_url}")
    Component(run, "etcd").start([
        b("etcd"), "--name=envctl", f"--data-dir={run / 'etcd'}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=envctl={peer_url}", "--initial-cluster-state=new",
        "--unsafe-no-fsync=true", "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ])

    def etcd_ok():
        try:
            with urllib.request.urlopen(f"{etcd_url}/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False
    wait_for("etcd /health", etcd_ok, 60, comps=["etcd"], run=run)

    log(f"starting kube-apiserver on {server}")
    Component(run, "kube-apiserver").start([
        b("kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        f"--cert-dir={run / 'certs' / 'apiserver'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--secure-port={ports['apiserver']}",
        f"--bind-address={host}",
        f"--advertise-address={host}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,"
        "ResourceQuota,DefaultStorageClass",
        "--allow-privileged=true",
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        *(_node_flags(pki) if real_node else [
            # Endpoints may not hold loopback addresses; without a real node nothing in the
            # cluster could reach the apiserver anyway.
            "--endpoint-reconciler-type=none"]),
        "--v=1",
    ])
    api = Api(run, server)
    wait_for("kube-apiserver /readyz", lambda: api.ok("/readyz"), 120,
             comps=["etcd", "kube-apiserver"], run=run)

    log("starting kube-controller-manager, kube-scheduler, kwok")
    kcm_kc = kcs / "controller-manager.kubeconfig"
    Component(run, "kube-controller-manager").start([
        b("kube-controller-manager"),
        f"--kubeconfig={kcm_kc}",
        f"--authentication-kubeconfig={kcm_kc}",
        f"--authorization-kubeconfig={kcm_kc}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['controller_manager']}",
        f"--cert-dir={run / 'certs' / 'controller-manager'}",
        "--v=1",
    ])
    sch_kc = kcs / "scheduler.kubeconfig"
    Component(run, "kube-scheduler").start([
        b("kube-scheduler"),
        f"--kubeconfig={sch_kc}",
        f"--authentication-kubeconfig={sch_kc}",
        f"--authorization-kubeconfig={sch_kc}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['scheduler']}",
        f"--cert-dir={run / 'certs' / 'scheduler'}",
        "--v=1",
    ])
    kwok_dir = run / "kwok"
    kwok_dir.mkdir()
    stage_files = sorted(STAGES_DIR.glob("*.yaml"))
    if not stage_files:
        raise Error(f"no kwok stage files in {STAGES_DIR}")
    configs = []
    for f in stage_files:
        shutil.copy(f, kwok_dir / f.name)
        configs.append(f"--config={kwok_dir / f.name}")
    Component(run, "kwok").start([
        b("kwok"),
        f"--kubeconfig={kcs / 'kwok.kubeconfig'}",
        *configs,
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
        "--manage-nodes-with-label-selector=",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
    ])

    # Fake nodes.
    for i in range(1, NODE_COUNT + 1):
        fake = fake_node(f"kwok-node-{i}", tainted=real_node)
        code, resp = api.json("POST", "/api/v1/nodes", fake)
        if code not in (200, 201, 409):
            raise Error(f"creating node {fake['metadata']['name']} failed: {code} {resp}")

    def nodes_ready():
        code, resp = api.json("GET", "/api/v1/nodes")
        if code != 200:
            return False
        ready = [n for n in resp.get("items", []) if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in n.get("status", {}).get("conditions", []))]
        return len(ready) >= NODE_COUNT

    all_comps = COMPONENTS
    wait_for(f"{NODE_COUNT} kwok nodes Ready", nodes_ready, 60, comps=all_comps, run=run)

    def sa_exists():
        code, _ = api.json("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return code == 200
    wait_for("ServiceAccount default/default", sa_exists, 90, comps=all_comps, run=run)
    if real_node:
        state["images"] = node.start(run, api, server)
        state_path(run).write_text(json.dumps(state, indent=2) + "\n")
        write_envctl_config(run, state["images"])
    wait_for("kube-apiserver /readyz", lambda: api.ok("/readyz"), 60, comps=components(run), run=run)


def _node_flags(pki: Path) -> list[str]:
    """The API server talks to the real kubelet as a client the kubelet authorizes, and checks
    the kubelet's serving certificate; the kubernetes Service gets the bridge address."""
    return [
        "--endpoint-reconciler-type=lease",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
    ]


def fake_node(name: str, tainted: bool = False) -> dict:
    res = {"cpu": "32", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake",
                            "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "type": "kwok",
                       "node-role.kubernetes.io/agent": ""},
        },
        "spec": {"taints": [FAKE_NODE_TAINT]} if tainted else {},
        "status": {"allocatable": res, "capacity": res,
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                 {"type": "Hostname", "address": name}]},
    }


def stop(run: Path = RUN_DIR) -> None:
    if not run.exists():
        log("not running")
        return
    with RunLock(run):
        _stop_locked(run)


def _stop_locked(run: Path, quiet=False) -> None:
    st = load_state(run) or {}
    any_stopped = False
    if node.was_started(run):
        api = Api(run, st["server"]) if st.get("server") and Component(run, "kube-apiserver").pid() else None
        any_stopped = any(Component(run, c).pid() for c in node.COMPONENTS)
        left = node.stop(run, api)
        if left:
            raise Error("the real node did not leave the machine as it found it:\n  " + "\n  ".join(left))
        if any_stopped and not quiet:
            log("stopped the real node; the machine is as it was before start")
    for c in reversed(COMPONENTS):
        comp = Component(run, c)
        if comp.stop():
            any_stopped = True
            if not quiet:
                log(f"stopped {c}")
    state_path(run).unlink(missing_ok=True)
    envctl_config_path(run).unlink(missing_ok=True)
    if not any_stopped and not quiet:
        log("not running")


def status(run: Path = RUN_DIR) -> int:
    st = load_state(run)
    pids = running_components(run)
    for c, pid in pids.items():
        print(f"{c:25s} {'running pid ' + str(pid) if pid else 'stopped'}")
    if st:
        print(f"{'apiserver':25s} {st['server']}")
    healthy = is_healthy(run)
    print(f"{'readyz':25s} {'ok' if healthy else 'not ok'}")
    print(f"{'kubeconfig':25s} {kubeconfig_path(run)}")
    print(f"{'binaries':25s} {BIN_DIR} ({'built' if build_complete() else 'not built'})")
    if healthy:
        return 0
    return 3 if not any(pids.values()) else 1


