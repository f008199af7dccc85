"""Project locks: one per (repository, project dir, workspace), held by the pull request that planned.

A lock names its holder (repo, PR, user, head SHA, time) and is released when that PR's apply
succeeds, when the PR is merged or closed, or on `/unlock` / `envctl tf unlock`. Acquiring is
"acquired / held by someone else" data, never an exception (atlantis project_locker habit).

Stores, behind one interface:
- FileLockStore: one JSON document, read-modify-written under an flock and replaced atomically
  (sibling file + rename). A crash can lose at most the write in progress, never leave a
  half-written document, and no process holds anything between calls: a lock is a record naming
  a PR, not a running process, so no crash leaves a lock held by nobody.
- LeaseLockStore (locks_kubernetes.py): a coordination.k8s.io Lease per lock, created atomically
  by the API server (409 = someone holds it), deleted with a resourceVersion precondition.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from envctl.state import write_json_atomic


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Lock:
    repo: str
    dir: str
    workspace: str
    pull: int
    project: str
    user: str
    head_sha: str
    created_at: str

    @property
    def key(self) -> str:
        return f"{self.repo}|{self.dir}|{self.workspace}"

    @property
    def holder(self) -> str:
        return f"{self.repo}#{self.pull}"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "holder": self.holder}


def lock_key(repo: str, directory: str, workspace: str) -> str:
    return f"{repo}|{directory}|{workspace}"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Acquired:
    ok: bool
    lock: Lock  # ours when ok, otherwise the holder's


class LockStore(Protocol):
    def acquire(self, lock: Lock) -> Acquired:
        """Take the lock for lock.pull, or refresh it when that PR already holds it."""
        ...

    def get(self, repo: str, directory: str, workspace: str) -> Lock | None: ...

    def release(self, repo: str, directory: str, workspace: str, pull: int | None = None) -> Lock | None:
        """Release it; with `pull`, only if that PR holds it. Returns the released lock."""
        ...

    def release_pull(self, repo: str, pull: int) -> list[Lock]: ...

    def list(self, repo: str | None = None) -> list[Lock]: ...


class FileLockStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, object]]]:
        with open(self.path.with_suffix(".flock"), "a+") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                try:
                    data: dict[str, dict[str, object]] = json.loads(self.path.read_text())
                except FileNotFoundError:
                    data = {}
                before = json.dumps(data, sort_keys=True)
                yield data
                if json.dumps(data, sort_keys=True) != before:
                    write_json_atomic(self.path, data)
                    fd = os.open(self.path.parent, os.O_RDONLY)
                    try:
                        os.fsync(fd)  # the rename itself survives a power cut
                    finally:
                        os.close(fd)
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    @staticmethod
    def _lock(raw: dict[str, object]) -> Lock:
        fields = {k: raw[k] for k in Lock.__dataclass_fields__}
        return Lock(**fields)  # type: ignore[arg-type]

    def acquire(self, lock: Lock) -> Acquired:
        with self._locked() as data:
            held = data.get(lock.key)
            if held is not None and int(held["pull"]) != lock.pull:  # type: ignore[call-overload]
                return Acquired(False, self._lock(held))
            if held is not None:
                lock = Lock(**{**asdict(lock), "created_at": str(held["created_at"])})
            data[lock.key] = asdict(lock)
            return Acquired(True, lock)

    def get(self, repo: str, directory: str, workspace: str) -> Lock | None:
        with self._locked() as data:
            held = data.get(lock_key(repo, directory, workspace))
            return self._lock(held) if held else None

    def release(self, repo: str, directory: str, workspace: str, pull: int | None = None) -> Lock | None:
        with self._locked() as data:
            key = lock_key(repo, directory, workspace)
            held = data.get(key)
            if held is None or (pull is not None and int(held["pull"]) != pull):  # type: ignore[call-overload]
                return None
            del data[key]
            return self._lock(held)

    def release_pull(self, repo: str, pull: int) -> list[Lock]:
        with self._locked() as data:
            mine = [k for k, v in data.items() if v["repo"] == repo and int(v["pull"]) == pull]  # type: ignore[call-overload]
            return [self._lock(data.pop(k)) for k in mine]

    def list(self, repo: str | None = None) -> list[Lock]:
        with self._locked() as data:
            locks = [self._lock(v) for v in data.values()]
        return sorted((lk for lk in locks if repo is None or lk.repo == repo), key=lambda lk: lk.key)
