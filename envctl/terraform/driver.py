"""Terraform, driven through python-terraform 0.10.1, with its known traps closed.

python-terraform builds the command lines (`generate_cmd_string`, the per-command defaults of
`init`/`plan`/`apply`); `_Terraform` below runs them. Each trap is pinned by a test in
tests/integration/terraform/test_driver_traps.py that fails without this wrapper:

1. Every call gets `-var-file=<temp file>`: `variables` defaults to `{}`, and a dict becomes a
   var file even when empty. Applying a saved plan then fails ("Can't set variables when
   applying a saved plan"). We pass `var=None` on every call.
2. `destroy()` passes `-force`, which Terraform removed in 0.15. We pass `force=None` and
   `-auto-approve`.
3. `plan()` always adds `-detailed-exitcode`: exit code 2 means "there are changes", not failure.
   `plan()` here returns has_changes and raises only on exit code 1.
4. `cmd()` logs terraform's stderr at WARNING and stdout at DEBUG through the `python_terraform`
   logger: unredacted secrets into envctl's logs. Our `cmd()` logs nothing but the command name.
5. `cmd()` copies os.environ and takes no per-call environment, so concurrent projects cannot
   each have their own TF_DATA_DIR (their inits would race in one `.terraform`), and a pull
   request's terraform would see envctl's own credentials. Ours takes `env`: the allowlist of
   environment.py plus the project's credentials for the phase.
6. `cmd()` re-reads and parses `terraform.tfstate` after every successful command (time, and the
   state's secrets held in memory) and decodes output as strict UTF-8; ours does neither, and adds
   a timeout that stops terraform's whole process group.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from python_terraform import IsFlagged, Terraform

from envctl.errors import EnvctlError, Timeout
from envctl.terraform.environment import terraform_env
from envctl.terraform.redaction import Redactor

log = logging.getLogger("envctl.terraform.driver")
logging.getLogger("python_terraform").disabled = True  # trap 4, for any caller of the bare library


class TerraformFailed(EnvctlError):
    """terraform exited with an error; the message is its stderr, already redacted."""

    kind = "terraform"


@dataclass
class Timings:
    """How long terraform itself ran, per command: what envctl's overhead is measured against."""

    commands: list[tuple[str, float]] = field(default_factory=list)

    @property
    def terraform_s(self) -> float:
        return sum(d for _, d in self.commands)


class _Terraform(Terraform):  # type: ignore[misc]
    def __init__(self, working_dir: Path, env: dict[str, str], timeout_s: float, binary: str) -> None:
        self._env = env
        self._timeout_s = timeout_s
        self.timings = Timings()
        super().__init__(working_dir=str(working_dir), terraform_bin_path=binary)

    def read_state_file(self, file_path: str | None = None) -> None:  # trap 6
        self.tfstate = None

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        kwargs.pop("capture_output", None)
        kwargs.pop("raise_on_error", None)
        kwargs.pop("synchronous", None)
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        started = time.perf_counter()
        log.debug("terraform %s in %s", cmd, self.working_dir)
        proc = subprocess.Popen(argv, cwd=self.working_dir, env=self._env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)  # terraform releases its state lock on SIGINT
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
            raise Timeout(f"terraform {cmd} did not finish within {self._timeout_s:.0f}s and was stopped",
                          "raise terraform.timeout_s in envctl.yaml, or look for a hung provider") from None
        finally:
            self.temp_var_files.clean_up()
            self.timings.commands.append((cmd, time.perf_counter() - started))
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class Driver:
    """One project's terraform: a working dir, its own TF_DATA_DIR, a redactor for what comes back."""

    def __init__(self, working_dir: Path, data_dir: Path, redactor: Redactor, timeout_s: float = 1800.0,
                 binary: str = "terraform", credentials: dict[str, str] | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        # never os.environ: the code may be a pull request's, and it can print its environment
        env = terraform_env(credentials or {}, str(data_dir))
        self.working_dir = working_dir
        self.redactor = redactor
        self.tf = _Terraform(working_dir, env, timeout_s, binary)

    @property
    def timings(self) -> Timings:
        return self.tf.timings

    def _check(self, what: str, result: tuple[int, str, str], ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        code, out, err = result
        if code not in ok:
            detail = self.redactor((err or out).strip())
            raise TerraformFailed(f"terraform {what} failed (exit {code}):\n{detail}",
                                  "fix the configuration and run the plan again")
        return code, out

    def init(self) -> None:
        self._check("init", self.tf.init(var=None, reconfigure=IsFlagged, backend=True, input=False,
                                         no_color=IsFlagged))

    def select_workspace(self, workspace: str) -> None:
        if workspace != "default":
            self._check("workspace select", self.tf.cmd("workspace select", workspace, or_create=True,
                                                         no_color=IsFlagged))

    def plan(self, out: Path, lock_timeout: str = "60s", refresh_only: bool = False, destroy: bool = False) -> bool:
        """Write the plan to `out`; True when it has changes (detailed exit code 2)."""
        extra: dict[str, Any] = {"refresh_only": IsFlagged} if refresh_only else {}
        if destroy:
            extra["destroy"] = IsFlagged
        code, _ = self._check("plan", self.tf.plan(var=None, out=str(out), lock_timeout=lock_timeout,
                                                   input=False, no_color=IsFlagged, **extra), ok=(0, 2))
        return code == 2

    def show_json(self, plan: Path) -> dict[str, Any]:
        _, out = self._check("show", self.tf.cmd("show", str(plan), json=IsFlagged, no_color=IsFlagged))
        return orjson.loads(out)  # type: ignore[no-any-return]

    def show_text(self, plan: Path) -> str:
        _, out = self._check("show", self.tf.cmd("show", str(plan), no_color=IsFlagged))
        return out

    def apply(self, plan: Path, lock_timeout: str = "60s") -> str:
        """Apply exactly this saved plan (no variables: a saved plan carries its own)."""
        _, out = self._check("apply", self.tf.apply(str(plan), var=None, lock_timeout=lock_timeout, input=False,
                                                    no_color=IsFlagged))
        return out

    def destroy(self, lock_timeout: str = "60s") -> str:
        _, out = self._check("destroy", self.tf.destroy(var=None, force=None, auto_approve=IsFlagged,
                                                        lock_timeout=lock_timeout, input=False, no_color=IsFlagged))
        return out
