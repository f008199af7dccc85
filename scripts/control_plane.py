#!/usr/bin/env python3
"""A real Kubernetes cluster on this machine, for tests: the control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok with fake nodes) and a real node (containerd, the
kubelet, kube-proxy, CoreDNS) whose pods really run.

Usage: scripts/control-plane {build|start|stop|env|status|images|gen-go|kubectl ARGS...}

* ``build``  builds the binaries from Go modules into
  ``$HOME/.cache/envctl/control-plane/v<KUBE_VERSION>/bin`` (once; a stamp marks a complete build).
* ``start``  builds if needed, then starts everything with free ports, state in the run dir
  (``$ENVCTL_CP_DIR`` or ``$HOME/.cache/envctl/control-plane/run``) and waits until the cluster is
  usable. Idempotent. ``ENVCTL_CP_REAL_NODE=0`` leaves the real node out (a kwok-only control
  plane on 127.0.0.1, of which several may run side by side).
* ``stop``   stops everything ``start`` started and restores the machine; fails, naming it,
  if anything the node changed is still different. Idempotent.
* ``env``    prints ``export KUBECONFIG=...`` and, with the real node, ``export ENVCTL_CONFIG=...``:
  an envctl.yaml in the run dir naming the images imported into the node.
* ``status`` prints the state of each component; exit 0 if all run.
* ``images`` rebuilds (if the code changed) and imports the envctl image into the running node.
* ``gen-go`` regenerates the Go wrapper modules in scripts/control-plane.d/go.

The code is in scripts/cluster/ (standard library and ``cryptography`` only).
"""

from __future__ import annotations

import json
import os
import signal
import sys

from cluster.build import build, gen_go
from cluster.common import BIN_DIR, RUN_DIR, Error, RunLock, log
from cluster.control_plane import (
    env_line, kubeconfig_path, load_state, start, state_path, status, stop, write_envctl_config,
)


def refresh_images() -> None:
    from cluster import node

    with RunLock(RUN_DIR):
        st = load_state(RUN_DIR)
        if not st or not st.get("real_node"):
            raise Error("no real node is running (scripts/control-plane start)")
        st["images"] = node.refresh_images(RUN_DIR)
        state_path(RUN_DIR).write_text(json.dumps(st, indent=2) + "\n")
        write_envctl_config(RUN_DIR, st["images"])
        print(json.dumps(st["images"]))


def main(argv: list[str]) -> int:
    usage = "usage: control-plane {start|stop|env|status|build|images|gen-go|kubectl ARGS...}"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `... | head` is fine
    try:
        if cmd == "start":
            start()
        elif cmd == "stop":
            stop()
        elif cmd == "env":
            print(env_line(RUN_DIR))
        elif cmd == "status":
            return status()
        elif cmd == "build":
            build(force="--force" in rest)
        elif cmd == "images":
            refresh_images()
        elif cmd == "gen-go":
            gen_go()
        elif cmd == "kubectl":
            env = dict(os.environ, KUBECONFIG=str(kubeconfig_path(RUN_DIR)))
            os.execve(str(BIN_DIR / "kubectl"), ["kubectl", *rest], env)
        elif cmd in ("-h", "--help", "help"):
            print(__doc__)
        else:
            print(usage, file=sys.stderr)
            return 2
    except Error as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
