"""A real Kubernetes node joined to the control plane: containerd + runc, CNI bridge, kubelet,
kube-proxy and CoreDNS, so pods really run and Services and cluster DNS work as in a cluster.

Settings this machine needs (measured, see docs/architecture.md): containerd's CRI
``restrict_oom_score_adj`` (no CAP_SYS_RESOURCE here), kubelet ``failCgroupV1: false`` and
``cgroupDriver: cgroupfs`` (cgroup v1 hierarchies that must not be remounted).

Leaving the machine as it was:
* the kubelet insists on vm.overcommit_memory=1, kernel.panic=10 and kernel.panic_on_oops=1 and
  writes them unless they already hold. containerd and the kubelet therefore run in a mount
  namespace of their own (held by the ``node-namespace`` process) where files with those values
  are bind-mounted over the three /proc/sys entries: the kubelet sees what it wants, the host's
  sysctls are never written. Every mount the kubelet and containerd make (its root-dir bind
  mount, volumes, overlay snapshots, netns files) lives in that namespace and goes with it.
* ``stop`` deletes the node's pods through the API first (their containers stop cleanly), then
  stops kube-proxy (and removes its rules), CoreDNS, the kubelet and containerd, kills anything
  left in the kubepods cgroups, removes those cgroups, the iptables chains and nftables tables
  that were not there before, the paths containerd 1.6 and the kubelet insist on, the bridge and
  the guard, and restores ip_forward. host_state compares the machine with the snapshot taken
  before ``start`` and reports whatever differs.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from cluster import host_state, images, network
from cluster.api import Api
from cluster.common import BIN_DIR, CACHE_ROOT, Component, Error, free_port, log, wait_for
from cluster.network import NODE_IP, POD_SUBNET

NODE_NAME = "envctl-node"
NODE_LABEL = "envctl.io/node"
CLUSTER_DNS_IP = "10.0.0.10"
CLUSTER_DOMAIN = "cluster.local"
KUBELET_PORT = 10250
# Start order; stop goes in reverse.
COMPONENTS = ["node-namespace", "containerd", "kubelet", "kube-proxy", "coredns"]
# What the kubelet wants to see; shown to it inside its mount namespace only.
KUBELET_SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
# containerd's image store outlives a run, so images are imported once per content hash.
CONTAINERD_ROOT = CACHE_ROOT / "node" / "containerd-root"
CONTAINERD_STATE = Path("/run/containerd")  # 1.6 uses /run/containerd/{s,fifo,runc} whatever the config says

CLIENT_CERTS = (
    ("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
    ("kube-proxy", "system:kube-proxy", None),
    ("coredns", "envctl:coredns", None),
    ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", None),
)
SERVER_CERTS = (("kubelet-serving", NODE_NAME, (NODE_IP,), (NODE_NAME,)),)


# What the real node runs from the host, and the Debian package each comes from (scripts/install-deps
# installs them): checked before anything starts, so a fresh machine hears what to install instead
# of a FileNotFoundError half-way through a start.
HOST_TOOLS = {"nft": "nftables", "iptables": "iptables", "containerd": "containerd", "runc": "runc",
              "umoci": "umoci", "debootstrap": "debootstrap", "gcc": "gcc"}
CNI_PLUGIN = Path("/usr/lib/cni/bridge")


def missing_host_tools() -> dict[str, str]:
    """command -> Debian package, for each the real node needs and this machine lacks."""
    missing = {cmd: pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None}
    if not CNI_PLUGIN.exists():
        missing[str(CNI_PLUGIN)] = "containernetworking-plugins"
    return missing


def enabled() -> bool:
    """The real node runs unless ENVCTL_CP_REAL_NODE=0 (a kwok-only control plane, e.g. a second one)."""
    return os.environ.get("ENVCTL_CP_REAL_NODE", "1") != "0"


def node_dir(run: Path) -> Path:
    return run / "node"


def _before_file(run: Path) -> Path:
    return run / "node-host-before.json"


def _net_file(run: Path) -> Path:
    return run / "node-network.json"


# --------------------------------------------------------------------------
# start
# --------------------------------------------------------------------------

def prepare(run: Path) -> None:
    """Before the API server starts: snapshot the host, bring up the bridge it will listen on."""
    before = _before_file(run)
    if not before.exists():  # a crashed earlier run's snapshot is the true "before"
        before.write_text(json.dumps(host_state.snapshot()) + "\n")
    network.up(_net_file(run))


def was_started(run: Path) -> bool:
    """Anything of a node here to stop (also after a start that failed half-way)?"""
    return any(p.exists() for p in (node_dir(run), _before_file(run), _net_file(run))) or \
        bool(Component(run, "node-namespace").pid())


def start(run: Path, api: Api, server: str) -> dict[str, str]:
    """Start the node; returns the images it holds (name -> reference) for tests and tools."""
    t0 = time.monotonic()
    nd = node_dir(run)
    shutil.rmtree(nd, ignore_errors=True)
    nd.mkdir(parents=True)
    _write_kubeconfigs(run, server)
    _bootstrap_objects(api)

    _start_namespace(run)
    _start_containerd(run)
    refs = images.ensure_imported(_ctr(run), log_dir=run / "logs")
    _start_kubelet(run)
    wait_for(f"node {NODE_NAME} Ready", lambda: _node_ready(api), 90,
             comps=["containerd", "kubelet"], run=run)
    _start_kube_proxy(run)
    _start_coredns(run)
    log(f"real node {NODE_NAME} ready in {time.monotonic() - t0:.1f}s (pods on {POD_SUBNET})")
    return refs


def _write_kubeconfigs(run: Path, server: str) -> None:
    from cluster.pki import write_kubeconfig

    for stem, cn, _org in CLIENT_CERTS[:3]:
        write_kubeconfig(node_dir(run) / f"{stem}.kubeconfig", server, run / "pki", cn, stem)


def _bootstrap_objects(api: Api) -> None:
    """RBAC for the node's own identities, and the kube-dns Service pointing at CoreDNS."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    # The API server's identity towards the kubelet (logs, exec, port-forward, proxy).
    api.create(f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "envctl:apiserver-kubelet-client"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube-apiserver-kubelet-client"}],
    })
    # CoreDNS reads Services and EndpointSlices, nothing more.
    api.create(f"{rbac}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "envctl:coredns"},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "namespaces", "pods"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    })
    api.create(f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "envctl:coredns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "envctl:coredns"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "envctl:coredns"}],
    })
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    api.create("/api/v1/namespaces/kube-system/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"clusterIP": CLUSTER_DNS_IP,
                 "ports": [{**p, "targetPort": 53} for p in ports]},
    })
    # CoreDNS runs on the node itself, so the Service has no selector and this slice instead.
    api.create("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                     "labels": {"kubernetes.io/service-name": "kube-dns",
                                "endpointslice.kubernetes.io/managed-by": "envctl"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        "ports": ports,
    })


def _start_namespace(run: Path) -> None:
    fake = node_dir(run) / "sysctl"
    fake.mkdir()
    binds = []
    for key, value in KUBELET_SYSCTLS.items():
        f = fake / key.replace("/", ".")
        f.write_text(value + "\n")
        binds.append(f"mount --bind {f} /proc/sys/{key}")
    script = " && ".join([*binds, "exec sleep infinity"])
    Component(run, "node-namespace").start(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    holder = Component(run, "node-namespace")

    def bound() -> bool:
        pid = holder.pid()
        if not pid:
            raise Error(f"node-namespace exited: {holder.log_tail()}")
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep")
        except OSError:
            return False
    wait_for("the node's mount namespace", bound, 10, run=run, interval=0.02)


def _in_node_ns(run: Path, argv: list[str]) -> list[str]:
    pid = Component(run, "node-namespace").pid()
    if not pid:
        raise Error("the node's mount namespace is gone")
    return ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "--", *argv]


def _containerd_socket(run: Path) -> Path:
    return node_dir(run) / "containerd.sock"


def _ctr(run: Path) -> list[str]:
    return ["ctr", "--address", str(_containerd_socket(run)), "-n", "k8s.io"]


def _start_containerd(run: Path) -> None:
    nd = node_dir(run)
    CONTAINERD_ROOT.mkdir(parents=True, exist_ok=True)
    (nd / "cni" / "net.d").mkdir(parents=True)
    (nd / "cni" / "net.d" / "10-envctl.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "envctl",
        "plugins": [{
            "type": "bridge", "bridge": network.BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(nd / "cni" / "ipam"),
                     "ranges": [[{"subnet": POD_SUBNET, "rangeStart": "10.213.0.10", "rangeEnd": "10.213.0.250",
                                  "gateway": NODE_IP}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }],
    }, indent=2))
    sock = _containerd_socket(run)
    (nd / "containerd.toml").write_text(f"""version = 2
root = "{CONTAINERD_ROOT}"
state = "{nd / 'containerd-state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{nd / 'cni' / 'net.d'}"
""")
    Component(run, "containerd").start(_in_node_ns(run, ["containerd", "--config", str(nd / "containerd.toml")]))

    def answers() -> bool:
        return sock.exists() and subprocess.run([*_ctr(run), "version"], capture_output=True).returncode == 0
    wait_for("containerd", answers, 30, comps=["containerd"], run=run)
    _remove_leftover_containers(run)


def _remove_leftover_containers(run: Path) -> None:
    """containerd's store outlives runs; containers of a run that crashed must not come back."""
    ctr = _ctr(run)
    listed = subprocess.run([*ctr, "containers", "ls", "-q"], capture_output=True, text=True).stdout.split()
    for cid in listed:
        subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", cid], capture_output=True)
        subprocess.run([*ctr, "tasks", "rm", "-f", cid], capture_output=True)
        subprocess.run([*ctr, "containers", "rm", cid], capture_output=True)
    if listed:
        log(f"removed {len(listed)} containers left by an earlier run")


def _start_kubelet(run: Path) -> None:
    nd, pki = node_dir(run), run / "pki"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "failCgroupV1": False, "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{_containerd_socket(run)}",
        "podLogsDir": str(nd / "pod-logs"),
        "volumePluginDir": str(nd / "volume-plugins"),
        "address": NODE_IP, "port": KUBELET_PORT, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
        "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [CLUSTER_DNS_IP], "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(nd / "resolv.conf"),
        "failSwapOn": False, "syncFrequency": "5s", "fileCheckFrequency": "5s",
        "nodeStatusUpdateFrequency": "5s", "nodeStatusReportFrequency": "30s",
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "rotateCertificates": False, "serverTLSBootstrap": False,
        "serializeImagePulls": False, "maxPods": 110,
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }
    # Pods resolve cluster names only (no upstream is reachable from here anyway).
    (nd / "resolv.conf").write_text("")
    (nd / "kubelet.yaml").write_text(json.dumps(config, indent=2))
    Component(run, "kubelet").start(_in_node_ns(run, [
        str(BIN_DIR / "kubelet"), f"--config={nd / 'kubelet.yaml'}", f"--kubeconfig={nd / 'kubelet.kubeconfig'}",
        f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", f"--root-dir={nd / 'kubelet'}",
        f"--node-labels={NODE_LABEL}=real", "--v=1",
    ]))


def _node_ready(api: Api) -> bool:
    code, node = api.json("GET", f"/api/v1/nodes/{NODE_NAME}")
    if code != 200:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node.get("status", {}).get("conditions", []))


def _start_kube_proxy(run: Path) -> None:
    nd = node_dir(run)
    health, metrics = free_port(), free_port()
    (nd / "kube-proxy.yaml").write_text(json.dumps({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(nd / "kube-proxy.kubeconfig")},
        "hostnameOverride": NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{health}", "metricsBindAddress": f"127.0.0.1:{metrics}",
        "clusterCIDR": POD_SUBNET,
        "nodePortAddresses": ["primary"],
        # Zeros keep kube-proxy from writing the conntrack sysctls.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }, indent=2))
    Component(run, "kube-proxy").start([str(BIN_DIR / "kube-proxy"), f"--config={nd / 'kube-proxy.yaml'}", "--v=1"])

    wait_for("kube-proxy /healthz", lambda: _http_ok(f"http://127.0.0.1:{health}/healthz"), 30,
             comps=["kube-proxy"], run=run)


def _start_coredns(run: Path) -> None:
    nd = node_dir(run)
    ready = free_port()
    (nd / "Corefile").write_text(f""".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{free_port()}
    ready 127.0.0.1:{ready}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {nd / 'coredns.kubeconfig'} envctl
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
""")
    Component(run, "coredns").start([str(BIN_DIR / "coredns"), "-conf", str(nd / "Corefile")])

    wait_for("CoreDNS /ready", lambda: _http_ok(f"http://127.0.0.1:{ready}/ready"), 30, comps=["coredns"], run=run)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


# --------------------------------------------------------------------------
# stop
# --------------------------------------------------------------------------

def stop(run: Path, api: Api | None) -> list[str]:
    """Stop the node and undo what it did to the machine; returns what still differs (empty: clean)."""
    if api is not None and any(Component(run, c).pid() for c in ("kubelet", "containerd")):
        _drain_pods(api)
    for name in ("kube-proxy", "coredns", "kubelet"):
        Component(run, name).stop()
    if shutil.which("nft"):
        # kube-proxy's rules, should it have died without removing them.
        subprocess.run([str(BIN_DIR / "kube-proxy"), "--cleanup", "--proxy-mode=nftables"], capture_output=True)
    _kill_pod_processes()
    Component(run, "containerd").stop()
    _kill_namespace_processes(run)
    Component(run, "node-namespace").stop()
    _kill_pod_processes()
    _remove_cgroups()
    network.down(_net_file(run))
    before_file = _before_file(run)
    try:
        before = json.loads(before_file.read_text())
    except (OSError, ValueError):
        return []
    _remove_new_paths(before)
    _remove_new_netfilter_state(before)
    problems = host_state.diff(before, host_state.snapshot())
    if not problems:
        before_file.unlink()
    return problems


def _drain_pods(api: Api, timeout_s: float = 60.0) -> None:
    """Cordon, delete every pod on the node, wait until the kubelet has stopped them all."""
    api.request("PATCH", f"/api/v1/nodes/{NODE_NAME}", {"spec": {"unschedulable": True}},
                content_type="application/merge-patch+json")
    selector = f"spec.nodeName={NODE_NAME}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code, pods = api.json("GET", f"/api/v1/pods?fieldSelector={selector}")
        items = pods.get("items", []) if code == 200 else []
        if not items:
            return
        for pod in items:
            meta = pod["metadata"]
            if not meta.get("deletionTimestamp"):
                api.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                            {"gracePeriodSeconds": 2})
        time.sleep(0.5)
    log(f"pods on {NODE_NAME} still running after {timeout_s:.0f}s; killing them")


def _kubepods_dirs() -> list[str]:
    dirs = glob.glob("/sys/fs/cgroup/*/kubepods*") + glob.glob("/sys/fs/cgroup/unified/kubepods*")
    found = []
    for top in dirs:
        for root, subdirs, _files in os.walk(top):
            found.append(root)
    return sorted(set(found), key=lambda d: -d.count("/"))  # deepest first


def _kill_pod_processes() -> None:
    for _ in range(20):
        pids = set()
        for d in _kubepods_dirs():
            try:
                pids.update(int(p) for p in Path(d, "cgroup.procs").read_text().split())
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _remove_cgroups() -> None:
    for _ in range(20):
        left = []
        for d in _kubepods_dirs():
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
        if not left:
            return
        time.sleep(0.1)
    log(f"could not remove cgroups: {', '.join(left[:5])}")


def _kill_namespace_processes(run: Path) -> None:
    """containerd's shims (and anything else) still inside the node's mount namespace."""
    holder = Component(run, "node-namespace").pid()
    if not holder:
        return
    try:
        ns = os.readlink(f"/proc/{holder}/ns/mnt")
    except OSError:
        return
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == holder:
            continue
        try:
            if os.readlink(proc / "ns" / "mnt") == ns:
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def _remove_new_paths(before: dict) -> None:
    existed = set(before.get("paths", []))
    for path in [*glob.glob("/run/netns/*"), *host_state.FIXED_PATHS]:
        if path in existed or not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            Path(path).unlink(missing_ok=True)


def _remove_new_netfilter_state(before: dict) -> None:
    """nftables tables (iptables-nft's included) that did not exist before the node started."""
    existed = set(before.get("nftables", []))
    for table in host_state.snapshot()["nftables"]:
        if table not in existed:
            subprocess.run(["nft", "delete", *table.split()], capture_output=True)


def refresh_images(run: Path) -> dict[str, str]:
    """Rebuild what changed (the envctl image after a code change) and import it into the node."""
    return images.ensure_imported(_ctr(run), log_dir=run / "logs")
