"""terraform/preview and terraform/modules/preview-env plan and apply here with no registry, and
their generated passwords never reach envctl's output, even when a preview is destroyed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.integration.terraform.conftest import REPO_ROOT, Cli


def test_preview_root_plans_applies_and_destroys_one_preview_without_leaking(cli: Cli, code_dir: Path) -> None:
    shutil.copytree(REPO_ROOT / "terraform", code_dir / "terraform")
    (code_dir / "envctl.yaml").write_text("terraform:\n  projects:\n    - name: preview\n      dir: terraform/preview\n")
    first = cli("tf", "plan", "--output", "json")
    assert first.code == 0, first.err
    [project] = first.json()["projects"]
    assert project["changes"]["create"] == 6
    assert {"module.env[\"pr-2\"].terraform_data.database", "module.env[\"pr-1\"].terraform_data.dns_record"} <= {
        r["address"] for r in project["resources"]}
    assert {"name": "database_urls", "action": "create", "sensitive": True} in project["outputs"]
    assert cli("tf", "apply").code == 0

    state = json.loads((code_dir / "terraform" / "preview" / "terraform.tfstate").read_text())
    passwords = [r["instances"][0]["attributes"]["output"]["value"] for r in state["resources"]
                 if r["name"] == "db_password"]
    assert len(passwords) == 2 and all(len(p) == 32 for p in passwords)
    assert cli("tf", "plan", "--output", "json").json()["projects"][0]["has_changes"] is False  # password kept

    tfvars = code_dir / "terraform" / "preview" / "previews.auto.tfvars.json"
    tfvars.write_text(json.dumps({"previews": {"pr-2": {"database_size_gb": 2}}}))  # pr-1 closed
    gone = cli("tf", "plan", "--output", "json")
    assert gone.json()["projects"][0]["changes"] == {"create": 0, "update": 0, "replace": 0, "delete": 3}
    markdown = cli("tf", "plan", "--output", "markdown")
    assert "(sensitive value)" in markdown.out and "**Delete** (3)" in markdown.out
    for run in cli.transcript:
        for password in passwords:
            assert password not in run.out + run.err

    tfvars.write_text(json.dumps({"previews": {"PR_3!": {}}}))
    invalid = cli("tf", "plan", "--output", "json")
    assert invalid.code == 1 and "name must be a DNS label" in invalid.json()["projects"][0]["error"]
