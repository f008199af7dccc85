"""Errors users see, as plain data.

EnvctlError            an expected, user-facing failure: what was wrong and what to do.
 ├── ConfigError       envctl.yaml or a flag is invalid (names the field)
 ├── NotFound          the environment, plan or release does not exist
 ├── Refused           a rule forbids it (approval missing, limit reached, not permitted)
 └── Timeout           something did not become ready in time (says what was still missing)

Anything else that escapes is a bug; the CLI prints it as an internal error with a traceback
hint. Only the CLI layer (envctl/cli/output.py) turns these into stderr text or JSON.
"""

from __future__ import annotations


class EnvctlError(Exception):
    exit_code = 1
    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.kind, "message": self.message, "hint": self.hint}


class ConfigError(EnvctlError):
    exit_code = 2
    kind = "config"


class NotFound(EnvctlError):
    exit_code = 3
    kind = "not_found"


class Refused(EnvctlError):
    exit_code = 4
    kind = "refused"


class Timeout(EnvctlError):
    exit_code = 5
    kind = "timeout"
