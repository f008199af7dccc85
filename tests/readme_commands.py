"""README.md's commands, read from its code blocks (so the README and its tests cannot drift), and a
fresh clone to run them in, as a new user would."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
SUITE = "scripts/test"  # the whole test suite: CI runs it; running it from a test would recurse


@dataclass(frozen=True)
class Block:
    kind: str  # "local", "servers" (each line serves until Ctrl-C) or "cluster"
    lines: tuple[str, ...]


def blocks(readme: Path = ROOT / "README.md") -> list[Block]:
    """Every bash block in order; its kind is read from the paragraph that introduces it."""
    out, intro = [], ""
    for token in MarkdownIt("commonmark").parse(readme.read_text()):
        if token.type == "inline":
            intro = token.content
        elif token.type == "fence" and token.info.strip() == "bash":
            kind = "cluster" if intro.startswith("On a cluster") else "servers" if intro.startswith("Servers") else "local"
            lines = tuple(line for line in token.content.splitlines() if line.strip())
            out.append(Block(kind, lines))
    return out


def fresh_clone(dest: Path) -> Path:
    """The working tree's tracked files (as a clone has them, edits included), in a new git repository."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src, dst = ROOT / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree, not committed yet
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], cwd=dest, check=True)
    return dest


def shell_env(state: Path, **extra: str) -> dict[str, str]:
    """A user's shell: their HOME (pip's cache) and PATH, none of the test run's Python settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "ENVCTL_"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if "/.venv/" not in p)
    return env | {"ENVCTL_STATE_DIR": str(state)} | extra


def run_line(line: str, clone: Path, env: dict[str, str], venv: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    """One README line in bash, in the clone; after the install line, inside the venv it made."""
    script = (". .venv/bin/activate && " if venv else "") + line
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_line(line: str, clone: Path, env: dict[str, str], log: Path) -> str:
    """A server line as shown, on a free port (this machine is shared): up, answering, and stopped by
    Ctrl-C. Returns what went wrong, or ''."""
    port = free_port()
    words = line.split("#")[0].split()
    if "--port" in words:
        words[words.index("--port") + 1] = str(port)
    else:
        words += ["--port", str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", ". .venv/bin/activate && " + " ".join(words)],
                                cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"exited {proc.returncode}: {log.read_text()}"
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            return f"did not answer on port {port} within 30 s: {log.read_text()}"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        proc.wait(timeout=30)
        return ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
