"""Where a release keeps its plan, approval, progress and abort flag.

The interface is small and document-shaped (one JSON document per key) so the Kubernetes
runtime can keep the same documents in a ConfigMap and take its lease as a coordination Lease;
the local runtime keeps them as files in the environment's directory, each written atomically
(sibling file + rename), so a reader or a resumed orchestrator never sees half a document.

    <env_dir>/releases/<plan_id>/plan.json       the plan (its hash is recomputed on every read)
                                  approval.json   approver, time, plan hash (its owner: who wrote it)
                                  status.json     ReleaseStatus, rewritten after every step/batch
                                  abort.json      the abort flag, written by `envctl release abort`
                                  events.jsonl    append-only journal (disconnect batches, verdicts)
                                  lock            flock held by the running orchestrator
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol


from envctl.errors import ConfigError, NotFound, Refused
from envctl.release.approval import Approval, parse_approval
from envctl.release.hints import release_cmd
from envctl.release.plan import ReleasePlan
from envctl.release.status import Abort, ReleaseStatus
from envctl.state import open_private, read_json, write_json_atomic


class ReleaseStore(Protocol):
    def save_plan(self, plan: ReleasePlan) -> None: ...
    def load_plan(self, plan_id: str) -> ReleasePlan: ...
    def list_plans(self) -> list[ReleasePlan]: ...
    def save_approval(self, approval: Approval) -> None: ...
    def load_approval(self, plan_id: str) -> Approval | None: ...
    def approval_writer(self, plan_id: str) -> tuple[str, str] | None:
        """(who, where): who wrote the stored approval, as the storage's own authority says, or
        None when it cannot say (envctl/release/proof.py)."""
        ...
    def save_status(self, status: ReleaseStatus) -> None: ...
    def load_status(self, plan_id: str) -> ReleaseStatus | None: ...
    def request_abort(self, plan_id: str, abort: Abort) -> Abort: ...
    def load_abort(self, plan_id: str) -> Abort | None: ...
    def append_event(self, plan_id: str, event: dict[str, Any]) -> None: ...
    def events(self, plan_id: str) -> list[dict[str, Any]]: ...
    def lease(self, plan_id: str, holder: str, wait_s: float = 0.0) -> contextlib.AbstractContextManager[None]:
        """Held while an orchestrator drives the release; Refused if another one holds it (after
        waiting up to wait_s for it to be given up)."""
        ...


class FileReleaseStore:
    def __init__(self, root: Path, env: str | None = None) -> None:
        self.root = root
        self.env = env or root.parent.name  # <env_dir>/releases: for the commands hints print

    def _dir(self, plan_id: str) -> Path:
        if not plan_id or "/" in plan_id or plan_id.startswith("."):
            raise ConfigError(f"invalid plan id {plan_id!r}")
        return self.root / plan_id

    def _read(self, path: Path) -> Any | None:
        try:
            return read_json(path)
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is unreadable: {err}", "restore it or remove the release directory") from err

    # -- plan and approval ------------------------------------------------------------------

    def save_plan(self, plan: ReleasePlan) -> None:
        write_json_atomic(self._dir(plan.id) / "plan.json", plan.to_dict())

    def load_plan(self, plan_id: str) -> ReleasePlan:
        data = self._read(self._dir(plan_id) / "plan.json")
        if data is None:
            known = ", ".join(p.id for p in self.list_plans()[-5:]) or "none"
            raise NotFound(f"no release plan {plan_id!r} (recent: {known})",
                           f"create one with {release_cmd('plan', None, self.env, 'local', '--to', 'VERSION')}")
        data.pop("hash", None)  # the hash is always recomputed from the content, never trusted
        return ReleasePlan.model_validate(data)

    def list_plans(self) -> list[ReleasePlan]:
        if not self.root.is_dir():
            return []
        plans = []
        for d in sorted(self.root.iterdir()):
            if (d / "plan.json").is_file():
                with contextlib.suppress(Exception):
                    plans.append(self.load_plan(d.name))
        return sorted(plans, key=lambda p: p.created_at)

    def save_approval(self, approval: Approval) -> None:
        write_json_atomic(self._dir(approval.plan_id) / "approval.json", approval.model_dump(mode="json"))

    def load_approval(self, plan_id: str) -> Approval | None:
        data = self._read(self._dir(plan_id) / "approval.json")
        if data is None:
            return None
        return parse_approval(data, str(self._dir(plan_id) / "approval.json"),
                              "remove it and approve the plan again with `envctl release approve`")

    def approval_writer(self, plan_id: str) -> tuple[str, str] | None:
        """The kernel's word: the OS user owning approval.json (written atomically by its approver)."""
        path = self._dir(plan_id) / "approval.json"
        try:
            uid = path.stat().st_uid
        except FileNotFoundError:
            return None
        try:
            return pwd.getpwuid(uid).pw_name, str(path)
        except KeyError:  # the same spelling as envctl.release.identity.os_user
            return f"uid:{uid}", str(path)

    # -- progress ---------------------------------------------------------------------------

    def save_status(self, status: ReleaseStatus) -> None:
        write_json_atomic(self._dir(status.plan_id) / "status.json", status.model_dump(mode="json"))

    def load_status(self, plan_id: str) -> ReleaseStatus | None:
        data = self._read(self._dir(plan_id) / "status.json")
        return None if data is None else ReleaseStatus.model_validate(data)

    def request_abort(self, plan_id: str, abort: Abort) -> Abort:
        existing = self.load_abort(plan_id)
        if existing is not None:
            return existing  # the first abort's timestamp and reason are kept
        write_json_atomic(self._dir(plan_id) / "abort.json", abort.model_dump(mode="json"))
        return abort

    def load_abort(self, plan_id: str) -> Abort | None:
        data = self._read(self._dir(plan_id) / "abort.json")
        return None if data is None else Abort.model_validate(data)

    def append_event(self, plan_id: str, event: dict[str, Any]) -> None:
        path = self._dir(plan_id) / "events.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_private(path, "a") as fh:
            fh.write(json.dumps(event, default=str) + "\n")

    def events(self, plan_id: str) -> list[dict[str, Any]]:
        path = self._dir(plan_id) / "events.jsonl"
        if not path.is_file():
            return []
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by kill -9
                out.append(json.loads(line))
        return out

    @contextlib.contextmanager
    def lease(self, plan_id: str, holder: str, wait_s: float = 0.0) -> Iterator[None]:
        """An flock: the kernel drops it when the holder dies, even by kill -9, so resume just works
        (wait_s is not needed here: a dead holder's lock is gone at once)."""
        path = self._dir(plan_id) / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = Path(path).read_text().strip() or "another process"
                raise Refused(
                    f"release {plan_id} is being driven by {other}",
                    f"watch it with {release_cmd('status', plan_id, self.env, 'local')}, "
                    f"or abort it with {release_cmd('abort', plan_id, self.env, 'local')}",
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, holder.encode())
            yield
        finally:
            os.close(fd)
