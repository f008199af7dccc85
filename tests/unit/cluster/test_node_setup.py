"""The pure parts of the test cluster's node setup (scripts/cluster): the network guard's rules
and the before/after comparison that makes `scripts/control-plane stop` name what it left behind."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))

from cluster import host_state, network  # noqa: E402


def test_guard_drops_cluster_ranges_leaving_by_the_default_route_and_pods_going_out() -> None:
    rules = network.guard_rules(["eth0"])
    assert "hook postrouting" in rules and "hook output" not in rules  # after kube-proxy's DNAT
    assert 'oifname "eth0" ip daddr { 10.0.0.0/24, 10.213.0.0/24, 10.244.0.0/16 } counter drop' in rules
    assert f'iifname "{network.BRIDGE}" oifname "eth0" counter drop' in rules


def test_guard_covers_every_default_route_device() -> None:
    rules = network.guard_rules(["eth0", "wlan0"])
    assert rules.count("daddr {") == 2 and 'oifname "wlan0"' in rules


def test_diff_names_sysctls_chains_tables_mounts_cgroups_and_paths_left_behind() -> None:
    before = {"sysctl": {"vm.overcommit_memory": "0", "kernel.panic": "1"}, "iptables": [], "nftables": [],
              "links": ["eth0", "lo"], "mounts": ["/"], "cgroups": [], "paths": ["/var/lib/kubelet"]}
    after = {"sysctl": {"vm.overcommit_memory": "1", "kernel.panic": "1"},
             "iptables": ["iptables filter KUBE-FIREWALL"], "nftables": ["table ip kube-proxy"],
             "links": ["envctl0", "eth0", "lo"], "mounts": ["/", "/run/netns/cni-1"],
             "cgroups": ["/sys/fs/cgroup/memory/kubepods"], "paths": []}
    problems = host_state.diff(before, after)
    assert "sysctl vm.overcommit_memory was '0', is now '1'" in problems
    assert "iptables: left behind iptables filter KUBE-FIREWALL" in problems
    assert "nftables: left behind table ip kube-proxy" in problems
    assert "links: left behind envctl0" in problems and "mounts: left behind /run/netns/cni-1" in problems
    assert "cgroups: left behind /sys/fs/cgroup/memory/kubepods" in problems
    assert "paths: removed /var/lib/kubelet" in problems  # something that was there must stay
    assert len(problems) == 7


def test_an_unchanged_machine_has_no_differences() -> None:
    snap = host_state.snapshot()
    assert host_state.diff(snap, snap) == []
    assert "vm.overcommit_memory" in snap["sysctl"]  # type: ignore[operator]
