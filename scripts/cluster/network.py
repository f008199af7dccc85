"""The real node's network: a bridge for pod addresses, and a guard so nothing leaves the machine.

Pods get addresses in POD_SUBNET on the bridge BRIDGE (the CNI bridge plugin adds their veths);
the node, the kubelet's API and CoreDNS listen on NODE_IP, the bridge's own address. Packets to
the pod or Service ranges must never leave by the default route: a ClusterIP that no kube-proxy
rule rewrites would otherwise be sent to a private address off this machine. The guard drops them
at *postrouting* (after kube-proxy's DNAT, so rewritten packets pass), and drops anything a pod
sends towards the default route at *forward*. It is one nftables table, removed by ``down``.

Pod-to-Service traffic is forwarded by the host, so the bridge plugin turns on
net.ipv4.ip_forward; ``up`` records the value it found and ``down`` puts it back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cluster.common import POD_CIDR, SERVICE_CIDR, Error, log

BRIDGE = "envctl0"
NODE_IP = "10.213.0.1"
POD_SUBNET = "10.213.0.0/24"
GUARD_TABLE = "envctl_guard"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise Error(f"{' '.join(cmd)} failed: {p.stderr.strip() or p.stdout.strip()}")
    return p


def default_route_devices() -> list[str]:
    routes = json.loads(_run("ip", "-j", "route", "show", "default").stdout or "[]")
    return sorted({r["dev"] for r in routes if r.get("dev")})


def guard_rules(out_devices: list[str]) -> str:
    """The nftables table (pure, so a unit test can read it)."""
    ranges = ", ".join([SERVICE_CIDR, POD_SUBNET, POD_CIDR])
    lines = [f"table ip {GUARD_TABLE} {{"]
    lines += ["  chain postrouting {", "    type filter hook postrouting priority 100; policy accept;"]
    for dev in out_devices:
        lines.append(f'    oifname "{dev}" ip daddr {{ {ranges} }} counter drop')
    lines += ["  }", "  chain forward {", "    type filter hook forward priority 0; policy accept;"]
    for dev in out_devices:
        lines.append(f'    iifname "{BRIDGE}" oifname "{dev}" counter drop')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def up(state_file: Path) -> None:
    """Bridge with NODE_IP and the guard; remembers ip_forward for ``down``. Idempotent."""
    if not state_file.exists():
        state_file.write_text(json.dumps({"ip_forward": IP_FORWARD.read_text().strip()}) + "\n")
    devices = default_route_devices()
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _run("nft", "delete", "table", "ip", GUARD_TABLE, check=False)
    _run("nft", "-f", "-", input=guard_rules(devices))
    log(f"node network: bridge {BRIDGE} {NODE_IP}/24, guard on {', '.join(devices) or 'no default route'}")


def down(state_file: Path) -> None:
    """Remove the bridge (and any veth left on it) and the guard; restore ip_forward."""
    links = json.loads(_run("ip", "-j", "link", "show", "master", BRIDGE, check=False).stdout or "[]")
    for link in links:
        _run("ip", "link", "delete", link["ifname"], check=False)
    _run("ip", "link", "delete", BRIDGE, check=False)
    _run("nft", "delete", "table", "ip", GUARD_TABLE, check=False)
    try:
        saved = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return
    if IP_FORWARD.read_text().strip() != saved["ip_forward"]:
        IP_FORWARD.write_text(saved["ip_forward"] + "\n")
    state_file.unlink(missing_ok=True)
