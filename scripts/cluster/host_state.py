"""What the real node may change on the machine, read before start and compared after stop.

``snapshot()`` reads the parts a kubelet, containerd, kube-proxy and the CNI plugins touch:
sysctls, iptables chains and nftables tables, network links, mounts, kubepods cgroups and the
fixed paths containerd 1.6 and the kubelet use. ``diff(before, after)`` names what differs, so
``scripts/control-plane stop`` (and the test session) can say exactly what was left behind.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
from pathlib import Path

# Counters and clocks move by themselves; they say nothing about what the node left behind.
VOLATILE_SYSCTL_PREFIXES = (
    "fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state", "fs.quota.",
    "kernel.random.", "kernel.ns_last_pid", "kernel.pty.nr", "kernel.tainted",
    "net.netfilter.nf_conntrack_count", "kernel.sched_domain", "fs.aio-nr",
    "net.ipv4.tcp_mem", "net.ipv4.udp_mem", "kernel.perf_event_max_sample_rate",
    "net.netfilter.nf_conntrack_buckets", "net.netfilter.nf_conntrack_max", "net.nf_conntrack_max",
)
# Interfaces and sysctls of per-interface configuration come and go with the bridge and veths.
PER_LINK_SYSCTL_PREFIXES = ("net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh.")
FIXED_PATHS = ("/run/containerd", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods",
               "/etc/cni/net.d", "/opt/cni", "/run/netns")


def _out(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _sysctls() -> dict[str, str]:
    out = {}
    for line in _out("sysctl", "-a").splitlines():
        key, sep, value = line.partition(" = ")
        if not sep or key.startswith(VOLATILE_SYSCTL_PREFIXES):
            continue
        if key.startswith(PER_LINK_SYSCTL_PREFIXES) and key.split(".")[3] not in ("all", "default", "lo"):
            continue
        out[key] = value
    return out


def _iptables_chains() -> list[str]:
    chains = []
    for tool in ("iptables-save", "ip6tables-save"):
        table = ""
        for line in _out(tool).splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                chains.append(f"{tool.split('-')[0]} {table} {line[1:].split()[0]}")
            elif line.startswith("-A"):
                chains.append(f"{tool.split('-')[0]} {table} rule: {line}")
    return sorted(chains)


def _nft_tables() -> list[str]:
    return sorted(line.strip() for line in _out("nft", "list", "tables").splitlines() if line.strip())


def _links() -> list[str]:
    try:
        return sorted(link["ifname"] for link in json.loads(_out("ip", "-j", "link", "show") or "[]"))
    except ValueError:
        return []


def _mounts() -> list[str]:
    return sorted({line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()})


def _cgroups() -> list[str]:
    return sorted(glob.glob("/sys/fs/cgroup/*/kubepods*") + glob.glob("/sys/fs/cgroup/*/*/kubepods*"))


def _paths() -> list[str]:
    found = [p for p in FIXED_PATHS if os.path.lexists(p)]
    found += glob.glob("/run/netns/*")
    return sorted(found)


def snapshot() -> dict[str, object]:
    return {"sysctl": _sysctls(), "iptables": _iptables_chains(), "nftables": _nft_tables(),
            "links": _links(), "mounts": _mounts(), "cgroups": _cgroups(), "paths": _paths()}


def diff(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Human-readable differences; empty when the machine is as it was."""
    problems: list[str] = []
    b_sys, a_sys = before.get("sysctl", {}), after.get("sysctl", {})
    assert isinstance(b_sys, dict) and isinstance(a_sys, dict)
    for key in sorted(set(b_sys) & set(a_sys)):
        if b_sys[key] != a_sys[key]:
            problems.append(f"sysctl {key} was {b_sys[key]!r}, is now {a_sys[key]!r}")
    for part in ("iptables", "nftables", "links", "mounts", "cgroups", "paths"):
        b, a = set(before.get(part, [])), set(after.get(part, []))  # type: ignore[arg-type]
        problems += [f"{part}: left behind {x}" for x in sorted(a - b)]
        problems += [f"{part}: removed {x}" for x in sorted(b - a)]
    return problems
