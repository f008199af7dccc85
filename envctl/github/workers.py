"""Terraform jobs run in worker processes, off the webhook's interpreter.

A job thread in the webhook only submits the job and waits on a pipe; the worker process does
everything else (git, terraform, rendering, PyGithub). So neither terraform's output parsing nor
PyGithub's JSON handling competes with the event loop answering GitHub for the GIL, and the
delivery -> 202 latency stays what it is with no jobs running.

Workers run at a lower CPU priority (nice 10, inherited by git and terraform), so on a busy
machine the webhook's event loop is scheduled ahead of plans. Workers are started with `spawn` (the webhook has threads; forking it would copy their locks)
and reused; each builds its own GitHub client from the settings it is handed. A worker that dies
breaks only the job it ran: the pool is rebuilt and the job is retried by the queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict

from github import GithubException

from envctl.github.jobs import RetryLater
from envctl.github.result import Result
from envctl.github.retries import retry_later
from envctl.github.secrets import install_log_redaction, settings_secrets
from envctl.github.settings import GitHubSettings
from envctl.github.terraform import TerraformRuns, TfJob

log = logging.getLogger("envctl.github.workers")

_runs: TerraformRuns | None = None


WORKER_NICENESS = 10  # below the webhook's own process: the request path gets the CPU first


def _child_init(settings_json: str, log_level: int) -> None:
    global _runs
    os.nice(WORKER_NICENESS)  # inherited by git and terraform, which the worker starts
    # one OS thread of Go code per terraform: with N workers at most N cores go to plans, and on a
    # small machine the webhook keeps one to answer GitHub with (an operator's own setting wins)
    os.environ.setdefault("GOMAXPROCS", "1")
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    settings = GitHubSettings.model_validate_json(settings_json)
    install_log_redaction(settings_secrets(settings))
    _runs = TerraformRuns(settings)


def _child_run(job: dict[str, object]) -> tuple[str, str, str, float]:
    """(outcome, kind, summary, delay): outcome is done or retry; exceptions never cross the pipe."""
    assert _runs is not None
    attempt = int(job.get("attempt") or 1)  # type: ignore[call-overload]
    try:
        result = _runs.run(TfJob(**job))  # type: ignore[arg-type]
    except Exception as err:
        later = retry_later(err, attempt, name_only=True)
        if later is not None:
            return "retry", "", later.why, later.delay_s
        log.exception("terraform job %s failed", job.get("op"))
        if isinstance(err, GithubException):
            return "done", "error", f"GitHub answered {err.status}", 0.0
        return "done", "error", f"{type(err).__name__} in a terraform job", 0.0  # a bug: keep serving, record it
    return "done", result.kind, result.summary, 0.0


class TerraformWorkers:
    def __init__(self, settings: GitHubSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.settings.terraform.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_init,
                    initargs=(self.settings.model_dump_json(), logging.getLogger("envctl").getEffectiveLevel()),
                )  # fmt: skip
            return self._pool

    def run(self, job: TfJob) -> Result:
        try:
            outcome, kind, summary, delay = self._executor().submit(_child_run, asdict(job)).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            raise RetryLater(5.0, "a terraform worker process died") from None
        if outcome == "retry":
            raise RetryLater(delay, summary)
        return Result(kind, summary)  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
