"""The GitHub Actions workflows: valid against GitHub's schema (vendored, offline) and doing their job."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
NAMES = ("ci.yml", "preview.yml", "release.yml", "terraform.yml", "terraform-drift.yml")


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema")
    cmd = [exe] if exe else [sys.executable, "-m", "check_jsonschema"]
    return subprocess.run([*cmd, "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=60)


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads a bare `on` as true
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def scripts(workflow: dict[Any, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_all_workflows_match_githubs_schema() -> None:
    done = check_jsonschema(*(WORKFLOWS / n for n in NAMES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validator_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: a/b@v1\n        run: echo both\n")
    assert check_jsonschema(broken).returncode != 0


def test_ci_runs_the_readme_test_command() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert "scripts/test" in [step.get("run") for step in steps(ci)]


def test_preview_hands_comment_and_pull_request_events_to_envctl() -> None:
    preview = load("preview.yml")
    assert preview["on"]["issue_comment"]["types"] == ["created"]
    assert {"opened", "reopened", "synchronize", "closed"} <= set(preview["on"]["pull_request"]["types"])
    assert 'envctl webhook handle --event-name "$GITHUB_EVENT_NAME" --event-path "$GITHUB_EVENT_PATH"' in scripts(preview)
    assert preview["permissions"]["deployments"] == "write" and preview["permissions"]["issues"] == "write"
    assert "number" in preview["concurrency"]["group"] and preview["concurrency"]["cancel-in-progress"] is False


def test_preview_never_runs_pull_request_code_or_interpolates_comment_text() -> None:
    preview = load("preview.yml")
    assert "pull_request_target" not in preview["on"]
    checkout = next(s for s in steps(preview) if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    # `${{ }}` inside run: is template substitution into the shell: untrusted event text must not go there
    for step in steps(preview):
        assert not re.search(r"\$\{\{[^}]*github\.event", step.get("run", "")), step


def step_named(workflow: dict[Any, Any], prefix: str) -> dict[str, Any]:
    return next(step for step in steps(workflow) if str(step.get("name", "")).startswith(prefix))


def test_release_is_gated_by_the_production_environment() -> None:
    release = load("release.yml")
    inputs = release["on"]["workflow_dispatch"]["inputs"]
    assert inputs["version"]["required"] is True and inputs["budget"]["type"] == "number"
    [job] = release["jobs"].values()
    assert job["environment"] == "production"
    text = scripts(release)
    order = [text.index(f"envctl release {verb}") for verb in ("plan", "approve", "start", "summary")]
    assert order == sorted(order)
    assert "${{" not in text  # inputs reach the shell only through env


def test_release_takes_the_approver_from_githubs_api_not_from_the_job() -> None:
    release = load("release.yml")
    [job] = release["jobs"].values()
    text = scripts(release)
    assert "--approver" not in text and "GITHUB_ACTOR" not in text
    assert release["permissions"] == {"contents": "read", "actions": "read"}  # reading the run and its reviews
    assert job["env"]["ENVCTL_GITHUB_TOKEN"] == "${{ github.token }}"


def test_the_run_title_reviewers_see_is_the_one_the_gate_parses() -> None:
    from envctl.release.approval_github import parse_run_title

    release = load("release.yml")
    title = release["run-name"].replace("${{ inputs.version }}", "v2.4.1").replace("${{ inputs.budget }}", "250")
    assert parse_run_title(title) == ("v2.4.1", 250.0)
    # ...and the plan is made from the same inputs the title shows
    assert release["env"]["VERSION"] == "${{ inputs.version }}" and release["env"]["BUDGET"] == "${{ inputs.budget }}"
    plan = step_named(release, "Plan")["run"]
    assert '--to "$VERSION" --budget "$BUDGET"' in plan


def test_the_kubeconfig_secret_becomes_a_file_only_the_job_can_read(tmp_path: Path) -> None:
    step = step_named(load("release.yml"), "Cluster credentials")
    assert step["env"]["KUBECONFIG_DATA"] == "${{ secrets.ENVCTL_KUBECONFIG }}"
    github_env = tmp_path / "github_env"
    secret = "apiVersion: v1\nkind: Config\nusers: [{name: release, user: {token: s3cr3t}}]"
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(github_env), "KUBECONFIG_DATA": secret}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    kubeconfig = tmp_path / "kubeconfig"
    assert kubeconfig.read_text() == secret + "\n"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert github_env.read_text() == f"KUBECONFIG={kubeconfig}\n"
    assert secret not in done.stdout + done.stderr
    kubeconfig.unlink()
    missing = subprocess.run(["bash", "-e", "-c", step["run"]], env=env | {"KUBECONFIG_DATA": ""},
                             capture_output=True, text=True, timeout=10)  # fmt: skip
    assert missing.returncode == 1 and "no ENVCTL_KUBECONFIG secret" in missing.stdout and not kubeconfig.exists()
    cleanup = step_named(load("release.yml"), "Remove the cluster credentials")
    assert cleanup["if"] == "always()" and '"$RUNNER_TEMP/kubeconfig"' in cleanup["run"]


def test_the_timeline_png_is_uploaded_and_linked_from_the_summary() -> None:
    release = load("release.yml")
    upload = step_named(release, "Upload the timeline")
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"] == "timeline.png"
    assert upload["with"]["archive"] is False and "always()" in upload["if"]
    assert "--plot timeline.png" in step_named(release, "Timeline")["run"]
    summary = step_named(release, "Job summary")
    assert summary["if"] == "always()" and summary["env"]["TIMELINE_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    assert '--output markdown ${TIMELINE_URL:+--timeline-url "$TIMELINE_URL"} >> "$GITHUB_STEP_SUMMARY"' in summary["run"]


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_a_major_version(name: str) -> None:
    for step in steps(load(name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_terraform_hands_comments_and_pull_requests_to_envctl_safely() -> None:
    tf = load("terraform.yml")
    assert tf["on"]["issue_comment"]["types"] == ["created"] and "pull_request_target" not in tf["on"]
    assert {"opened", "synchronize", "closed"} <= set(tf["on"]["pull_request"]["types"])
    [job] = tf["jobs"].values()
    assert "/plan" in job["if"] and "/apply" in job["if"] and "/unlock" in job["if"]
    checkout = next(s for s in steps(tf) if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    handle = next(s for s in steps(tf) if "envctl webhook handle" in s.get("run", ""))
    assert handle["env"]["ENVCTL_TERRAFORM"] == "true"
    assert tf["permissions"]["statuses"] == "write" and tf["concurrency"]["cancel-in-progress"] is False
    for step in steps(tf):
        assert not re.search(r"\$\{\{[^}]*github\.event", step.get("run", "")), step


def test_drift_runs_on_a_schedule_and_manages_issues() -> None:
    drift = load("terraform-drift.yml")
    assert drift["on"]["schedule"][0]["cron"] and "workflow_dispatch" in drift["on"]
    assert drift["permissions"] == {"contents": "read", "issues": "write"}
    assert "envctl tf drift --open-issues" in scripts(drift) and "$GITHUB_STEP_SUMMARY" in scripts(drift)
