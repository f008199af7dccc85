"""Stopping an environment's processes leaves nothing behind, even a worker that ignores SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from envctl.runtimes.local.processes import ProcessRecord, stop

# A leader that exits on SIGTERM, with a worker that ignores it (a wedged simulator worker does).
LEADER = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
    "time.sleep(60)"
)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_kills_descendants_that_outlive_their_leader() -> None:
    leader = subprocess.Popen([sys.executable, "-c", LEADER], start_new_session=True)
    deadline = time.monotonic() + 10
    while not psutil.Process(leader.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = psutil.Process(leader.pid).children()
    assert workers, "the leader did not start its worker"

    started = time.monotonic()
    stop(ProcessRecord(leader.pid, psutil.Process(leader.pid).create_time()), grace_s=1.0)

    assert leader.poll() is not None
    assert not any(_running(w) for w in workers)
    assert time.monotonic() - started < 8


def test_stop_ignores_a_reused_pid() -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = ProcessRecord(bystander.pid, psutil.Process(bystander.pid).create_time() - 100)
        stop(stale, grace_s=0.5)
        assert bystander.poll() is None, "a process that merely reuses the pid must not be signalled"
    finally:
        bystander.kill()
        bystander.wait()
