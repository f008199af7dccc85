"""Where envctl keeps per-user state: one directory, overridable for tests and side-by-side use."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def state_root() -> Path:
    explicit = os.environ.get("ENVCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(xdg) / "envctl"


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers never see a half-written file: write a sibling, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)
