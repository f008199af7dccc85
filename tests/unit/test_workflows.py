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


def test_release_is_gated_by_the_production_environment() -> None:
    release = load("release.yml")
    inputs = release["on"]["workflow_dispatch"]["inputs"]
    assert inputs["version"]["required"] is True and inputs["budget"]["type"] == "number"
    [job] = release["jobs"].values()
    assert job["environment"] == "production"
    text = scripts(release)
    order = [text.index(f"envctl release {verb}") for verb in ("plan", "approve", "start")]
    assert order == sorted(order)
    assert text.count("$GITHUB_STEP_SUMMARY") >= 2
    assert "${{" not in text  # inputs reach the shell only through env


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
