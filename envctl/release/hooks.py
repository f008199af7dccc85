"""Test hooks: make the orchestrator crash (kill -9 itself) or pause at a named point.

ENVCTL_RELEASE_HOOK="crash:after:switch_traffic"      SIGKILL right after that step is persisted
ENVCTL_RELEASE_HOOK="crash:before:canary_hold"        SIGKILL before the step's first action
ENVCTL_RELEASE_HOOK="crash:during:drain_rest:3"       SIGKILL after the 3rd batch's write-ahead save,
                                                      before its disconnects are sent
ENVCTL_RELEASE_HOOK="pause:after:canary_drain:5"      sleep 5 s there (to abort or kill from outside)

Several hooks may be given, separated by ';'. Only tests set this; unset, every call is a no-op.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Hook:
    action: str  # crash | pause
    when: str  # before | after | during
    step: str
    arg: float | None = None


def parse(text: str | None) -> list[Hook]:
    hooks = []
    for part in (text or "").split(";"):
        fields = part.strip().split(":")
        if len(fields) < 3:
            continue
        arg = float(fields[3]) if len(fields) > 3 and fields[3] else None
        hooks.append(Hook(fields[0], fields[1], fields[2], arg))
    return hooks


class Hooks:
    def __init__(self, hooks: list[Hook]) -> None:
        self.hooks = hooks

    @classmethod
    def from_env(cls) -> Hooks:
        return cls(parse(os.environ.get("ENVCTL_RELEASE_HOOK")))

    def fire(self, when: str, step: str, count: int | None = None) -> None:
        for hook in self.hooks:
            if hook.when != when or hook.step != step:
                continue
            if when == "during" and hook.arg is not None and count != int(hook.arg):
                continue
            if hook.action == "crash":
                sys.stderr.write(f"ENVCTL_RELEASE_HOOK: kill -9 {when} {step}\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            elif hook.action == "pause":
                time.sleep(hook.arg if hook.arg is not None and when != "during" else 5.0)
