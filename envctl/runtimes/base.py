"""The contract every runtime (local processes, Kubernetes) fulfils for the environment lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from envctl.envs.model import EnvSpec, EnvStatus

# Called with (what is happening, done, total) so the CLI can draw a progress bar.
Progress = Callable[[str, int, int], None]


def no_progress(_what: str, _done: int, _total: int) -> None:
    return None


class Runtime(Protocol):
    name: str

    def up(self, spec: EnvSpec, progress: Progress = no_progress, recreate: bool = False) -> EnvStatus:
        """Create the environment and return once every charger is connected. An existing one is
        left as it is when the request matches it (what crashed restarted, data kept), refused
        (envctl.errors.Refused, naming what differs) when it does not, replaced when `recreate`."""
        ...

    def status(self, name: str) -> EnvStatus:
        """Raise envctl.errors.NotFound when there is no such environment."""
        ...

    def list(self) -> list[EnvStatus]: ...

    def down(self, name: str, force: bool = False, actor: str = "envctl") -> bool:
        """Remove everything; idempotent. Returns False when there was nothing to remove.
        Refused while a release is in progress, unless `force` (which aborts it first)."""
        ...

    def extend(self, name: str, by: timedelta) -> datetime:
        """Push the expiry `by` further (from now if already expired); return the new expiry."""
        ...
