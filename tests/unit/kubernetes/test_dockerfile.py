"""The Dockerfile cannot be built here (no Docker engine); check what the templates rely on.

tests/integration/kubernetes/test_node_images.py compares it with the image the test node runs."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from pathlib import Path

from envctl.runtimes.kubernetes import render as r

REPO = Path(__file__).resolve().parents[3]


def instructions() -> list[tuple[str, str]]:
    out, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            op, _, rest = current.strip().partition(" ")
            out.append((op.upper(), rest))
            current = ""
    return out


def test_entrypoint_is_envctl_and_templates_pass_subcommands(make_values: Callable[..., r.Values]) -> None:
    ins = instructions()
    assert ins[0][0] == "FROM" and ins[0][1] == "debian:bookworm-slim"  # python3 3.11 from Debian
    assert json.loads(dict(ins)["ENTRYPOINT"]) == ["envctl"]
    assert json.loads(dict(ins)["CMD"])[0] == "server"
    assert dict(ins)["EXPOSE"].split() == ["9000", "9100"]
    user = dict(ins)["USER"]
    assert user not in ("root", "0")
    # The Deployments rely on the entrypoint: their args start with the subcommand.
    objs = r.render(make_values(), r.PACKAGED_TEMPLATES)
    args = {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["args"][0]
            for o in objs if o["kind"] == "Deployment"}
    assert args == {"charger-server-v1": "server", "charger-simulator": "sim"}
    assert not any("command" in c for o in objs if o["kind"] == "Deployment"
                   for c in o["spec"]["template"]["spec"]["containers"])


def test_everything_copied_exists_and_is_not_ignored() -> None:
    ignored = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for op, rest in instructions():
        if op == "COPY" and "--from" not in rest:
            for src in rest.split()[:-1]:
                assert (REPO / src).exists(), src
                assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), src
    # Data files beside the code (SQL migrations) travel with envctl/.
    assert not any(fnmatch.fnmatch("envctl/charger/store/migrations/sqlite/0001_initial.sql", p) for p in ignored)
