"""Validators accept the whole input or nothing: `$` also matches before a final newline, so a
`re.match(r"^...$")` let "abc\\n" through as an environment name (issue 18)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from envctl.config import Ingress, quantity_value
from envctl.envs.model import parse_duration, validate_name
from envctl.errors import ConfigError
from envctl.terraform.settings import ProjectConfig


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "\nabc", "pr-1\n"])
def test_an_environment_name_with_a_newline_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid environment name"):
        validate_name(name)
    assert validate_name(name.strip()) == name.strip()


def test_other_validators_refuse_a_trailing_newline() -> None:
    with pytest.raises(ValueError):
        quantity_value("500m\n")
    assert quantity_value("500m") == 0.5
    with pytest.raises(ValidationError):
        Ingress(domain="preview.example.com\n")
    with pytest.raises(ValidationError):
        Ingress(namespace="ingress-nginx\n")
    for field in ({"name": "app\n"}, {"workspace": "default\n"}):
        with pytest.raises(ValidationError):
            ProjectConfig(**({"name": "app", "dir": "infra"} | field))
    assert parse_duration(" 8h ").total_seconds() == 8 * 3600  # surrounding spaces were always fine
