"""Settings and small process helpers shared by the control plane, the real node and the builds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

KUBE_VERSION = os.environ.get("ENVCTL_KUBE_VERSION", "1.37.2")
ETCD_VERSION = os.environ.get("ENVCTL_ETCD_VERSION", "3.6.16")
KWOK_VERSION = os.environ.get("ENVCTL_KWOK_VERSION", "0.8.0")
COREDNS_VERSION = os.environ.get("ENVCTL_COREDNS_VERSION", "1.15.0")

SCRIPT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = SCRIPT_DIR / "control-plane.d"
GO_WRAPPERS = DATA_DIR / "go"
STAGES_DIR = DATA_DIR / "stages"

CACHE_ROOT = Path(
    os.environ.get("ENVCTL_CP_CACHE")
    or Path.home() / ".cache" / "envctl" / "control-plane"
)
CACHE_DIR = CACHE_ROOT / f"v{KUBE_VERSION}"
BIN_DIR = CACHE_DIR / "bin"
BUILD_DIR = CACHE_DIR / "build"
STAMP = CACHE_DIR / ".build-complete"
BUILD_LOCK = CACHE_DIR / ".build.lock"

RUN_DIR = Path(os.environ.get("ENVCTL_CP_DIR") or CACHE_ROOT / "run")

SERVICE_CIDR = "10.0.0.0/24"
FIRST_SERVICE_IP = "10.0.0.1"
POD_CIDR = "10.244.0.0/16"  # fake pod IPs handed out by kwok; nothing routes there
NODE_COUNT = int(os.environ.get("ENVCTL_CP_NODES", "2"))
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"

# Start order matters; stop goes in reverse.
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
K8S_BINARIES = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
                "kubelet", "kube-proxy"]
ALL_BINARIES = ["etcd", *K8S_BINARIES, "kwok", "coredns"]


def log(msg: str) -> None:
    print(f"[control-plane] {msg}", file=sys.stderr, flush=True)


class Error(Exception):
    pass



def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces/parens: split after the last ')'
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]  # starttime (field 22 overall)


class Component:
    def __init__(self, run: Path, name: str):
        self.run, self.name = run, name
        self.pidfile = run / "pids" / f"{name}.pid"
        self.logfile = run / "logs" / f"{name}.log"

    def read_pid(self):
        try:
            pid, start = self.pidfile.read_text().split()
            return int(pid), start
        except (OSError, ValueError):
            return None, None

    def pid(self) -> int | None:
        """The pid if the process we started is still alive (guards against
        pid reuse by comparing the kernel start time)."""
        pid, start = self.read_pid()
        if pid and proc_start_time(pid) == start:
            return pid
        return None

    def start(self, argv: list[str]) -> None:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "w") as out:
            out.write(f"# {' '.join(argv)}\n")
            out.flush()
            p = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.run, start_new_session=True, close_fds=True,
                env={k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)},
            )
        start = None
        for _ in range(50):
            start = proc_start_time(p.pid)
            if start:
                break
            time.sleep(0.01)
        self.pidfile.write_text(f"{p.pid} {start}\n")
        self._popen = p

    def stop(self, timeout=15.0) -> bool:
        pid = self.pid()
        stopped = False
        if pid:
            stopped = True
            try:
                os.killpg(pid, signal.SIGTERM)  # its own session: pgid == pid
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.pid():
                _reap(pid)
                time.sleep(0.1)
            if self.pid():
                log(f"{self.name} (pid {pid}) did not stop on SIGTERM; killing")
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                for _ in range(50):
                    _reap(pid)
                    if not self.pid():
                        break
                    time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        return stopped

    def log_tail(self, n=30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass




class RunLock:
    """Serialises start/stop on one run dir (several test sessions may race)."""

    def __init__(self, run: Path):
        run.mkdir(parents=True, exist_ok=True)
        self.f = open(run / ".lock", "w")

    def __enter__(self):
        import fcntl
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        self.f.close()


def wait_for(what: str, cond, timeout: float, comps=(), run: Path | None = None,
             interval=0.25):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        for c in comps:
            comp = Component(run, c)
            if not comp.pid():
                raise Error(f"{c} exited while waiting for {what}; last log lines "
                            f"({comp.logfile}):\n{comp.log_tail()}")
        if time.monotonic() > deadline:
            tails = "".join(
                f"\n--- {c} ({Component(run, c).logfile}):\n{Component(run, c).log_tail(15)}"
                for c in comps)
            raise Error(f"timed out after {timeout:.0f}s waiting for {what}{tails}")
        time.sleep(interval)
