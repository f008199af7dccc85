"""Detached child processes that outlive the `envctl up` that started them, and their safe removal.

A pid alone is not an identity (pids are reused after a crash or reboot), so every record keeps
the process start time and we only ever signal a process whose start time still matches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from envctl.state import open_private


CREATE_TIME_TOLERANCE_S = 2.0


@dataclass
class ProcessRecord:
    pid: int
    started_at: float  # psutil create_time, to tell our process from a reused pid

    def process(self) -> psutil.Process | None:
        try:
            proc = psutil.Process(self.pid)
            # create_time is boot time + ticks, and the kernel reports boot time in whole seconds,
            # recomputed as the wall clock is adjusted: one process's create_time flips by a whole
            # second over its life (seen here: processes `down` no longer recognised as its own,
            # left running). A reused pid started within two seconds of ours is not a real risk.
            if abs(proc.create_time() - self.started_at) > CREATE_TIME_TOLERANCE_S or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    @property
    def alive(self) -> bool:
        return self.process() is not None


def spawn(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> ProcessRecord:
    """Start `python -m envctl ARGS` in its own session, stdout/stderr to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(log_path, "ab") as log:  # logs carry charger ids and idTags
        proc = subprocess.Popen(
            [sys.executable, "-m", "envctl", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not killed by the terminal's Ctrl-C after `up` returned
            env={**os.environ, **(env or {})},
        )
    try:
        started = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        started = time.time()
    return ProcessRecord(proc.pid, started)


def stop(record: ProcessRecord, grace_s: float = 10.0, kill: bool = False) -> None:
    stop_all([record], grace_s, kill)


def stop_all(records: list[ProcessRecord], grace_s: float = 10.0, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) them all at once, SIGKILL whatever outlives grace_s.

    The leaders get the signal (they stop their own workers in order); their descendants, taken
    before the signal, are waited for too and killed if they linger, so a wedged worker process
    cannot outlive `envctl down`.
    """
    leaders = [p for p in (r.process() for r in records) if p is not None]
    everyone = leaders + [c for p in leaders for c in _descendants(p)]
    _signal(leaders, signal.SIGKILL if kill else signal.SIGTERM)
    alive = _wait_gone(everyone, grace_s)
    _signal(alive, signal.SIGKILL)
    _wait_gone(alive, 5.0)


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _signal(procs: list[psutil.Process], sig: signal.Signals) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def _gone(proc: psutil.Process) -> bool:
    # A zombie has exited; only its parent (maybe not us) can reap it, so do not wait for that.
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    alive = list(procs)
    while alive:
        for proc in alive:
            try:
                proc.wait(timeout=0)  # reaps it when it is our child
            except (psutil.TimeoutExpired, psutil.NoSuchProcess, ChildProcessError):
                pass
        alive = [p for p in alive if not _gone(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return alive


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
