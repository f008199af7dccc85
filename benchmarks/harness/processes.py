"""Stopping a process a benchmark started: SIGTERM (its graceful path is part of what runs for real),
then SIGKILL if it has not exited within `grace_s`."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace_s: float) -> None:
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
