"""One rule for yes/no environment variables, whichever settings module reads them."""

from __future__ import annotations

import pytest

from envctl.errors import ConfigError
from envctl.github.settings import GitHubSettings
from envctl.github.tf_settings import TerraformWebhookSettings


@pytest.mark.parametrize(("raw", "value"), [
    ("1", True), ("true", True), ("TRUE", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("False", False), ("NO", False), ("off", False),
])  # fmt: skip
def test_the_same_spellings_count_in_every_settings_module(raw: str, value: bool) -> None:
    preview = GitHubSettings.from_env({"ENVCTL_PREVIEW_AUTO": raw, "ENVCTL_PREVIEW_SKIP_DRAFTS": raw}).policy
    terraform = TerraformWebhookSettings.from_env({"ENVCTL_TERRAFORM": raw, "ENVCTL_TERRAFORM_AUTOPLAN": raw})
    assert (preview.auto_preview, preview.skip_drafts, terraform.enabled, terraform.autoplan) == (value,) * 4


def test_unset_or_empty_is_the_default() -> None:
    preview = GitHubSettings.from_env({"ENVCTL_PREVIEW_AUTO": "", "ENVCTL_PREVIEW_SKIP_DRAFTS": ""}).policy
    terraform = TerraformWebhookSettings.from_env({"ENVCTL_TERRAFORM_AUTOPLAN": ""})
    assert (preview.auto_preview, preview.skip_drafts) == (False, True)
    assert (terraform.enabled, terraform.autoplan) == (False, True)


@pytest.mark.parametrize(("read", "name"), [
    (GitHubSettings.from_env, "ENVCTL_PREVIEW_SKIP_DRAFTS"),
    (TerraformWebhookSettings.from_env, "ENVCTL_TERRAFORM"),
    (TerraformWebhookSettings.from_env, "ENVCTL_TERRAFORM_AUTOPLAN"),
])  # fmt: skip
def test_an_unknown_spelling_is_refused_with_the_variable_and_its_value_as_set(read, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        read({name: "Ture"})
    assert err.value.message == f"{name}='Ture' is not a boolean"  # as typed: the Terraform one said 'ture'
    assert "true or false" in (err.value.hint or "")
