"""Nothing secret in anything envctl writes: stdout (json, markdown, text), stderr, job summaries,
its own files, and (through the webhook) comments and logs; see also test_terraform_flow.py.

Secrets here: a sensitive variable's value, a sensitive output generated at apply time (so it is
only in the state), and a value that Terraform does not consider sensitive but matches a
configured pattern; plus an error whose source snippet quotes a matching value.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.terraform import tf_block
from tests.integration.terraform.conftest import Cli

SECRET_VAR = "s3cret-db-password-7f3a91"
PATTERN_VALUE = "corp_Hx7Kq2Mz9Wv4Rt6Yp1Ls"
PATTERN_IN_ERROR = "corp_Ab1Cd2Ef3Gh4Ij5Kl6Mn"


def secrets_tf(states: Path, user: str = "app") -> str:
    return tf_block(states / "secrets.tfstate") + f"""
variable "db_password" {{
  type      = string
  sensitive = true
  default   = "{SECRET_VAR}"
}}
variable "api_token" {{
  type    = string
  default = "{PATTERN_VALUE}"
}}
resource "terraform_data" "generated" {{
  input = "gen-${{uuid()}}"
  lifecycle {{ ignore_changes = [input] }}
}}
resource "terraform_data" "db" {{
  input = {{ user = "{user}", password = var.db_password }}
}}
resource "terraform_data" "hook" {{
  input = "Bearer ${{var.api_token}}"
}}
output "dsn" {{
  value     = "postgres://{user}:${{var.db_password}}@db/app"
  sensitive = true
}}
output "generated_password" {{
  value     = terraform_data.generated.output
  sensitive = true
}}
"""


def all_files_envctl_wrote(state_dir: Path) -> dict[Path, bytes]:
    """Everything under envctl's state dir except terraform's own artifacts (its data dir and plan files)."""
    out = {}
    for path in state_dir.rglob("*"):
        if path.is_file() and "tfdata" not in path.parts and path.name != "plan.tfplan":
            out[path] = path.read_bytes()
    return out


def test_no_secret_reaches_any_output_file_or_summary(cli: Cli, code_dir: Path, tmp_path: Path, tf_env: Path) -> None:
    states = tmp_path / "states"
    (code_dir / "envctl.yaml").write_text("terraform:\n  redact_patterns: ['corp_[A-Za-z0-9]{20}']\n")
    (code_dir / "secrets").mkdir()
    (code_dir / "secrets" / "main.tf").write_text(secrets_tf(states))
    (code_dir / "broken").mkdir()
    (code_dir / "broken" / "main.tf").write_text(tf_block(states / "broken.tfstate") +
                                                 f'resource "terraform_data" "bad" {{\n  input = "{PATTERN_IN_ERROR}" + 1\n}}\n')
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}

    failed = cli("tf", "plan", "--output", "json", env=env)
    assert failed.code == 1  # the broken project fails, the other plans
    by_name = {p["name"]: p for p in failed.json()["projects"]}
    assert by_name["secrets"]["ok"] and not by_name["broken"]["ok"]
    assert "Invalid operand" in by_name["broken"]["error"] and "***" in by_name["broken"]["error"]
    cli("tf", "plan", "--output", "markdown", env=env)
    cli("tf", "plan", env=env)
    cli("tf", "plan", "--project", "broken")
    applied = cli("tf", "apply", "--project", "secrets", "--output", "json")
    assert applied.code == 0, applied.err
    generated = json.loads((states / "secrets.tfstate").read_text())["outputs"]["generated_password"]["value"]
    assert generated.startswith("gen-")

    (code_dir / "secrets" / "main.tf").write_text(secrets_tf(states, user="admin"))  # updates with secret befores
    update = cli("tf", "plan", "--project", "secrets", "--output", "json", env=env)
    assert update.json()["projects"][0]["changes"]["update"] == 1
    cli("tf", "plan", "--project", "secrets", "--output", "markdown", env=env)
    cli("tf", "apply", "--project", "secrets")
    cli("tf", "drift", "--project", "secrets", "--output", "json")
    cli("tf", "locks", "--output", "json")

    written = {f"cli run {i}": (r.out + r.err).encode() for i, r in enumerate(cli.transcript)}
    written["job summary"] = summary.read_bytes()
    written.update({str(p): data for p, data in all_files_envctl_wrote(tf_env).items()})
    assert b"Terraform plan" in written["job summary"] and len(written) >= 12
    for secret in (SECRET_VAR, PATTERN_VALUE, PATTERN_IN_ERROR, generated):
        leaks = [where for where, data in written.items() if secret.encode() in data]
        assert leaks == [], f"{secret!r} leaked into {leaks}"
    # and the secrets really were there to leak: terraform's own artifacts hold them
    assert generated.encode() in (states / "secrets.tfstate").read_bytes()
