"""The file lock store: one holder per (repo, dir, workspace), safe across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from envctl.terraform.locks import FileLockStore, Lock


def lock(pull: int, project: str = "app", directory: str = "infra/app", workspace: str = "default") -> Lock:
    return Lock("o/r", directory, workspace, pull, project, f"user{pull}", f"{pull:040x}", "2026-01-01T00:00:00Z")


def test_contention_refresh_release_and_release_pull(tmp_path: Path) -> None:
    store = FileLockStore(tmp_path / "locks.json")
    assert store.acquire(lock(1)).ok
    taken = store.acquire(lock(2))
    assert not taken.ok and taken.lock.pull == 1  # says who holds it
    again = store.acquire(Lock(**{**lock(1).__dict__, "head_sha": "f" * 40, "created_at": "later"}))
    assert again.ok and again.lock.head_sha == "f" * 40 and again.lock.created_at == "2026-01-01T00:00:00Z"
    assert store.acquire(lock(2, workspace="prod")).ok  # another workspace is another lock
    assert store.release("o/r", "infra/app", "default", pull=2) is None  # not the holder
    assert [lk.pull for lk in store.list()] == [1, 2]
    assert store.release_pull("o/r", 2)[0].workspace == "prod"
    assert store.release("o/r", "infra/app", "default").pull == 1  # type: ignore[union-attr]
    assert store.list() == [] and store.get("o/r", "infra/app", "default") is None


def _grab(path: str, pull: int, out: "multiprocessing.Queue[tuple[int, bool]]") -> None:
    out.put((pull, FileLockStore(Path(path)).acquire(lock(pull)).ok))


def test_only_one_of_many_processes_gets_the_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[int, bool]] = ctx.Queue()
    procs = [ctx.Process(target=_grab, args=(str(tmp_path / "locks.json"), pull, results)) for pull in range(1, 9)]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    winners = [pull for pull, ok in outcomes.items() if ok]
    assert len(winners) == 1
    assert [lk.pull for lk in FileLockStore(tmp_path / "locks.json").list()] == winners


def _die_inside(path: str) -> None:
    import os
    import signal

    store = FileLockStore(Path(path))
    with store._locked() as data:  # holds the flock, mid read-modify-write
        data["half-written"] = {"repo": "o/r"}
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_process_killed_mid_write_leaves_the_locks_intact_and_free(tmp_path: Path) -> None:
    store = FileLockStore(tmp_path / "locks.json")
    store.acquire(lock(1))
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_die_inside, args=(str(tmp_path / "locks.json"),))
    child.start()
    child.join(60)
    assert child.exitcode == -9
    assert [lk.pull for lk in store.list()] == [1]  # nothing half-written, the holder still named
    assert store.acquire(lock(2, directory="infra/db")).ok  # the flock died with the process
