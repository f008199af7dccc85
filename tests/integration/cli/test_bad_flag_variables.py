"""A yes/no variable spelled wrong stops `envctl webhook serve` before it listens, naming the variable."""

from __future__ import annotations

import json

import pytest

from tests.integration.envs.conftest import Cli


@pytest.mark.parametrize("name", ["ENVCTL_TERRAFORM", "ENVCTL_TERRAFORM_AUTOPLAN", "ENVCTL_PREVIEW_AUTO"])
def test_a_misspelt_flag_is_refused_not_read_as_false(cli: Cli, name: str) -> None:
    cli.env["ENVCTL_WEBHOOK_SECRET"] = "not-a-real-secret"
    cli.env[name] = "Ture"
    done = cli.run("webhook", "serve", "--port", "0", "--output", "json", check=False, timeout=60)
    assert done.returncode != 0 and done.stdout == "", (done.stdout, done.stderr)
    err = json.loads(done.stderr)
    assert err["message"] == f"{name}='Ture' is not a boolean", err
    assert "true or false" in err["hint"]
