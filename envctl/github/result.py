"""What handling a delivery came to (atlantis command/result habit).

Success: it worked.  Failure: expected and user-facing (refused, bad argument, runtime said no);
already reported on the PR.  Error: unexpected (a bug, an outage); reported where possible and
recorded as a failed delivery.  Ignored: nothing for us in this delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Result:
    kind: Literal["success", "failure", "error", "ignored"]
    summary: str

    def to_dict(self) -> dict[str, str]:
        return {"result": self.kind, "summary": self.summary}

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"


def success(summary: str) -> Result:
    return Result("success", summary)


def failure(summary: str) -> Result:
    return Result("failure", summary)


def error(summary: str) -> Result:
    return Result("error", summary)


def ignored(summary: str) -> Result:
    return Result("ignored", summary)
