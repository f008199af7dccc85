from __future__ import annotations

from pathlib import Path

import pytest

from envctl.errors import ConfigError
from envctl.github.settings import GitHubSettings


def test_defaults_and_github_actions_variables() -> None:
    s = GitHubSettings.from_env({"GITHUB_TOKEN": "t", "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
                                 "HOME": "/home/x"})
    assert s.token == "t" and s.api_url == "https://ghe.example.com/api/v3"
    assert s.state_dir == Path("/home/x/.local/state/envctl")
    assert s.max_body_bytes == 1024 * 1024 and s.policy.auto_preview is False and s.policy.skip_drafts is True
    s.require_credentials()


def test_preview_policy_from_env(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("PEM")
    s = GitHubSettings.from_env({
        "ENVCTL_PREVIEW_AUTO": "on", "ENVCTL_PREVIEW_LABEL": "preview", "ENVCTL_PREVIEW_SKIP_DRAFTS": "false",
        "ENVCTL_PREVIEW_CHARGERS": "4", "ENVCTL_PREVIEW_TTL": "2h", "ENVCTL_STATE_DIR": str(tmp_path),
        "ENVCTL_GITHUB_APP_ID": "12", "ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH": str(key),
    })  # fmt: skip
    assert (s.policy.auto_preview, s.policy.trigger_label, s.policy.skip_drafts) == (True, "preview", False)
    assert s.policy.chargers == 4 and s.policy.default_ttl().total_seconds() == 7200
    assert s.app_private_key == "PEM" and s.state_dir == tmp_path
    s.require_credentials()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ENVCTL_PREVIEW_AUTO": "maybe"}, "is not a boolean"),
        ({"ENVCTL_PREVIEW_TTL": "soon"}, "invalid duration"),
        ({"ENVCTL_WEBHOOK_WORKERS": "many"}, "is not a number"),
        ({"ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH": "/nonexistent/key.pem"}, "cannot read"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        GitHubSettings.from_env(env)


def test_missing_or_half_credentials_are_refused() -> None:
    with pytest.raises(ConfigError, match="no GitHub credentials"):
        GitHubSettings.from_env({}).require_credentials()
    with pytest.raises(ConfigError, match="needs both"):
        GitHubSettings.from_env({"ENVCTL_GITHUB_APP_ID": "1"}).require_credentials()
