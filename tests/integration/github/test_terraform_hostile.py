"""A hostile fork pull request through the real webhook (`envctl webhook serve`), real git and terraform.

The fork's Terraform reads environments and files through outputs (its own environment, its
parent's and grandparent's: the worker and the webhook, which hold every secret) and prints them
in clear text, base64, hex and URL-encoding. A writer comments `/plan`, later `/apply`. Nothing
envctl writes (comments and statuses on GitHub, its logs, its files) may carry a secret in any
of those forms, and terraform's own environment must hold only the allowlist and the phase's
credentials. The secrets are not shaped like any known token, so only envctl's own knowledge of
them can mask them (the built-in patterns cannot).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from envctl.github.server import PATH
from envctl.github.signature import sign
from envctl.github.terraform_markdown import MARKER_RE
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.ports import free_port
from tests.fixtures.terraform import GitRemote, tf_block

REPO = "Codertocat/Hello-World"
FORK = "mallory/Hello-World"
ROOT = Path(__file__).resolve().parents[3]
TOKEN = "tok+9Qz/7Wm=K3p 8Xv&2hRr~Lc"
WEBHOOK_SECRET = "whsec Lq3+/Vb9=z%Tn&55?Jk"
PLAN_KEY = "plan-key+Ab1/Cd2=Ef3 Gh4"
APPLY_KEY = "apply-key+Zy9/Xw8=Vu7 Ts6"
SECRETS = {"github token": TOKEN, "webhook secret": WEBHOOK_SECRET, "plan credential": PLAN_KEY,
           "apply credential": APPLY_KEY}

pytestmark = pytest.mark.timeout(900)

CONFIG = """terraform:
  projects:
    - name: app
      dir: infra/app
      credentials:
        plan: {TF_VAR_reader: APP_PLAN_KEY}
        apply: {TF_VAR_writer: APP_APPLY_KEY}
"""


def hex_table() -> str:
    """What an attacker writes to hex-encode in HCL (terraform has no hex function)."""
    entries = []
    for code in range(128):
        char = chr(code)
        key = f'"\\u{code:04x}"' if code < 32 or char in '"\\$%' else json.dumps(char)
        entries.append(f"    {key} = \"{code:02x}\"")
    return "{\n" + "\n".join(entries) + "\n  }"


def hostile_tf(states: Path, apply_env: Path) -> str:
    return tf_block(states / "app.tfstate") + f"""
locals {{
  self_env   = file("/proc/self/environ")
  parent     = split(" ", file("/proc/self/stat"))[3]
  parent_env = file("/proc/${{local.parent}}/environ")
  grand      = split(" ", file("/proc/${{local.parent}}/stat"))[3]
  grand_env  = file("/proc/${{local.grand}}/environ")
  all        = "${{local.self_env}}|${{local.parent_env}}|${{local.grand_env}}"
  hex        = {hex_table()}
}}
resource "terraform_data" "app" {{
  input = "v2"
  provisioner "local-exec" {{
    command = "env > {apply_env}"
  }}
}}
output "self_env" {{ value = local.self_env }}
output "all_clear" {{ value = local.all }}
output "parent_b64" {{ value = filebase64("/proc/${{local.parent}}/environ") }}
output "all_b64" {{ value = base64encode(local.all) }}
output "all_url" {{ value = urlencode(local.all) }}
output "all_hex" {{ value = join("", [for c in regexall("(?s).", local.all) : lookup(local.hex, c, "3f")]) }}
"""


def leaks(text: str, secret: str) -> list[str]:
    """The forms in which `secret` can be read back out of `text`, as an attacker would decode it."""
    raw = secret.encode()
    found = set()
    if secret in text:
        found.add("clear")
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        for offset in range(4):
            chunk = run[offset:]
            chunk = chunk[: len(chunk) // 4 * 4]
            for spelling in (chunk, chunk.replace("-", "+").replace("_", "/")):
                try:
                    if raw in base64.b64decode(spelling):
                        found.add("base64")
                except ValueError:
                    pass
    for run in re.findall(r"[0-9a-fA-F]{16,}", text):
        for offset in (0, 1):
            chunk = run[offset:]
            if raw in bytes.fromhex(chunk[: len(chunk) // 2 * 2]):
                found.add("hex")
    if secret in urllib.parse.unquote(text) or secret in urllib.parse.unquote_plus(text):
        found.add("url")
    return sorted(found)


@dataclass
class Webhook:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def send(self, event: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
                   "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body)}
        return httpx.post(self.url + PATH, content=body, headers=headers, timeout=10).status_code

    def wait_idle(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = httpx.get(self.url + "/readyz", timeout=5).json()["deliveries"]
            if not counts.get("queued") and not counts.get("running"):
                return
            time.sleep(0.2)
        raise AssertionError(f"deliveries still running: {counts}")


@pytest.fixture
def webhook(tmp_path: Path, tf_env: Path, fake: FakeGitHub, git_remote: GitRemote) -> Iterator[Webhook]:
    port = free_port()
    log = tmp_path / "webhook.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ENVCTL_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "ENVCTL_GITHUB_TOKEN": TOKEN, "ENVCTL_GITHUB_API_URL": fake.url, "ENVCTL_TERRAFORM": "true",
           "ENVCTL_TERRAFORM_REMOTE": str(git_remote.bare), "ENVCTL_TERRAFORM_PROCESSES": "1",
           "ENVCTL_GITHUB_WRITE_INTERVAL": "0", "APP_PLAN_KEY": PLAN_KEY, "APP_APPLY_KEY": APPLY_KEY}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "envctl", "webhook", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "debug"], env=env, stdout=out, stderr=out)
    hook = Webhook(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(hook.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield hook
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    github = FakeGitHub(token=TOKEN).start()
    yield github
    github.stop()


def plan_comments(fake: FakeGitHub, number: int, kind: str = "plan") -> list[str]:
    return [c["body"] for c in fake.issue_comments(REPO, number)
            if (m := MARKER_RE.match(c["body"])) and m["kind"] == kind]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_a_hostile_fork_plan_and_apply_leak_no_secret(
    tmp_path: Path, tf_env: Path, fake: FakeGitHub, git_remote: GitRemote, webhook: Webhook,
) -> None:
    states, apply_env = tmp_path / "states", tmp_path / "apply-env.txt"
    git = git_remote
    git.commit("base", {"envctl.yaml": CONFIG, "infra/app/main.tf": tf_block(states / "app.tfstate") +
                        'resource "terraform_data" "app" {\n  input = "v1"\n}\n'})
    git.push_master()
    git.checkout("fork", new=True)
    git.commit("innocent-looking change", {"infra/app/main.tf": hostile_tf(states, apply_env)})
    sha = git.push_pull(5)
    git.checkout("master")
    fake.add_pull(REPO, 5, sha, head_repo=FORK, author="mallory", mergeable=True)
    fake.set_permission(REPO, "alice", "write")
    fake.set_permission(REPO, "bob", "write")
    fake.set_permission(REPO, "mallory", "read")

    # a fork is never planned on its own; a writer's /plan plans it
    assert webhook.send("pull_request", payloads.pull_request("opened", number=5, sha=sha, repo=REPO, fork=FORK)) == 202
    assert webhook.send("issue_comment", payloads.comment("/plan", number=5, login="alice", comment_id=51, repo=REPO)) == 202
    webhook.wait_idle()
    plans = plan_comments(fake, 5)
    assert plans and "all_b64" in "".join(plans) and "all_hex" in "".join(plans), "\n".join(plans)
    # terraform's own environment: the allowlist and the plan credential (masked), nothing of envctl's
    [self_env] = re.findall(r"self_env\s*=\s*\"([^\n]*)\"", "".join(plans))
    assert "TF_VAR_reader=***" in self_env and "TF_DATA_DIR=" in self_env and "PATH=" in self_env
    assert "ENVCTL_" not in self_env and "TF_VAR_writer" not in self_env and "APP_" not in self_env, self_env
    # the webhook's environment, read through /proc, is masked in every encoding
    assert "ENVCTL_WEBHOOK_SECRET=***" in "".join(plans)

    # the fork's author approves their own code: a reader's review does not count, and the refusal says why
    fake.add_review(REPO, 5, "mallory", "APPROVED")
    webhook.send("issue_comment", payloads.comment("/apply", number=5, login="alice", comment_id=52, repo=REPO))
    webhook.wait_idle()
    refusal = fake.issue_comments(REPO, 5)[-1]["body"]
    assert "requirement `approved`" in refusal and "@mallory has no write access" in refusal, refusal
    assert not apply_env.exists()

    # a writer's approval of this head lets it through; apply prints the outputs again
    fake.add_review(REPO, 5, "bob", "APPROVED")
    webhook.send("issue_comment", payloads.comment("/apply", number=5, login="alice", comment_id=53, repo=REPO))
    webhook.wait_idle()
    applied = "".join(plan_comments(fake, 5, "apply"))
    assert "Applied" in applied and "all_b64" in applied, fake.issue_comments(REPO, 5)[-1]["body"]
    # apply's terraform got the apply credential, not the plan one, and nothing of envctl's
    seen = apply_env.read_text()
    assert f"TF_VAR_writer={APPLY_KEY}" in seen and PLAN_KEY not in seen and "ENVCTL_" not in seen, seen
    assert TOKEN not in seen and WEBHOOK_SECRET not in seen

    webhook.proc.send_signal(signal.SIGTERM)
    webhook.proc.wait(60)
    written: dict[str, str] = {
        "comments": "\n".join(c["body"] for c in fake.issue_comments(REPO, 5)),
        "everything posted to GitHub": "\n".join(s for r in fake.recorded() if r.method != "GET" for s in strings(r.body)),
        "webhook and worker logs": webhook.log.read_text(errors="replace"),
    }
    for path in tf_env.rglob("*"):  # envctl's state dir: deliveries, locks, saved-plan records, checkouts
        terraforms_own = {"tfdata", "checkout"} & set(path.relative_to(tf_env).parts) or path.name == "plan.tfplan"
        if path.is_file() and not terraforms_own:
            written[str(path.relative_to(tf_env))] = path.read_bytes().decode(errors="replace")
    assert "ENVCTL_GITHUB_TOKEN=***" in written["comments"]  # the outputs really were there, masked
    found = {(where, name, form) for where, text in written.items() for name, secret in SECRETS.items()
             for form in leaks(text, secret)}
    assert found == set()
