"""Where envctl keeps per-user state: one directory, overridable for tests and side-by-side use.

The state is private to its user: the charger database holds idTags (RFID card numbers), the
GitHub deliveries their payloads, the Terraform work directories state, the environments their
admin tokens. The root is a 0700 directory (made so when found wider), which keeps everything
below it from other users whatever the files' own modes; and the files envctl writes itself
(SQLite databases, JSON, JSON lines, logs) are created 0600 as well, so a copy or a bind mount
of one file stays private too.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def state_root() -> Path:
    explicit = os.environ.get("ENVCTL_STATE_DIR")
    if explicit:
        return private_dir(Path(explicit))
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return private_dir(Path(xdg) / "envctl")


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner may enter (created, or narrowed when it is wider)."""
    path.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
    with contextlib.suppress(OSError):  # not ours to change (a shared mount): the files are still 0600
        if path.stat().st_mode & 0o777 != PRIVATE_DIR:
            os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 unless it exists (SQLite then gives its -wal and -shm the same mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    return path


def open_private(path: Path | str, mode: str, **kwargs: Any) -> IO[Any]:
    """open(), but a file it creates is 0600."""
    return open(path, mode, opener=lambda p, flags: os.open(p, flags, PRIVATE_FILE), **kwargs)  # noqa: SIM115


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
