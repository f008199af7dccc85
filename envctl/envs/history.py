"""What was done to an environment, by whom: an append-only journal per environment name.

Kept under the state root, beside the environments rather than inside one, so it outlives the
environment it describes: after `down` the journal still says who tore it down and when.

    <state_root>/history/<name>.jsonl   {"t": ISO 8601 UTC, "action", "actor", "via", ...detail}
    <state_root>/history/releases/<name>/<plan_id>/   a local environment's releases, moved here by `down`

(Journals written before envctl's JSON used ISO timestamps hold unix seconds in "t": read() converts.)
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from envctl.envs.model import validate_name
from envctl.state import state_root
from envctl.timestamps import iso


def _path(name: str, root: Path | None = None) -> Path:
    return (root or state_root()) / "history" / f"{validate_name(name)}.jsonl"


def releases_dir(name: str, root: Path | None = None) -> Path:
    return (root or state_root()) / "history" / "releases" / validate_name(name)


def record(name: str, action: str, actor: str, via: str, root: Path | None = None, **detail: Any) -> dict[str, Any]:
    entry = {"t": iso(time.time()), "action": action, "actor": actor, "via": via, **detail}
    path = _path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write of one line: concurrent writers never interleave within it
    finally:
        os.close(fd)
    return entry


def read(name: str, root: Path | None = None) -> list[dict[str, Any]]:
    path = _path(name, root)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a crash
            entry = json.loads(line)
            if isinstance(entry.get("t"), (int, float)):
                entry["t"] = iso(entry["t"])
            out.append(entry)
    return out
