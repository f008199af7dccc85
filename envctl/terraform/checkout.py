"""A pull request's code on disk: a git repository per PR, fetched from the remote, detached at a SHA.

GitHub keeps every PR (forks included) at `refs/pull/N/head`; the base branch comes along so
the changed files (`base...head`) and "undiverged" (the base's tip is in the head) are answered
by git itself. The fetched head must be the SHA GitHub's API reported: if the PR moved in
between, the caller plans what it asked for or nothing. Credentials, when the remote needs them,
travel in GIT_CONFIG_* environment variables, never in argv or a URL that could be logged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from envctl.errors import EnvctlError, Refused

GIT_TIMEOUT_S = 300


class GitFailed(EnvctlError):
    kind = "git"


class Checkout:
    def __init__(self, path: Path, remote: str, env: dict[str, str] | None = None) -> None:
        self.path = path
        self.remote = remote
        self.env = env

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, env=self.env, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise GitFailed(f"git {args[0]} failed: {done.stderr.strip()[-2000:]}",
                            "check that the repository is reachable with envctl's credentials")
        return done

    def sync(self, pull: int, head_sha: str, base_ref: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / ".git").exists():
            self.git("init", "-q")
        self.git("fetch", "--quiet", "--no-tags", "--force", self.remote,
                 f"+refs/pull/{pull}/head:refs/envctl/head", f"+refs/heads/{base_ref}:refs/envctl/base")
        fetched = self.git("rev-parse", "refs/envctl/head").stdout.strip()
        if fetched != head_sha:
            raise Refused(f"the pull request's head moved while envctl fetched it ({head_sha[:12]} -> {fetched[:12]})",
                          "envctl plans the new head when its push event arrives; or comment `/plan` again")
        self.git("checkout", "--quiet", "--force", "--detach", head_sha)
        self.git("clean", "-ffdxq")

    def changed_files(self) -> list[str]:
        done = self.git("diff", "--name-only", "-z", "refs/envctl/base...HEAD")
        return [f for f in done.stdout.split("\0") if f]

    def undiverged(self) -> bool:
        return self.git("merge-base", "--is-ancestor", "refs/envctl/base", "HEAD", check=False).returncode == 0

    def base_file(self, name: str) -> str | None:
        done = self.git("show", f"refs/envctl/base:{name}", check=False)
        return done.stdout if done.returncode == 0 else None
