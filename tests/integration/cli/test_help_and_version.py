"""What a new user reads first: --help, --version, and the hints of commands that need a cluster."""

from __future__ import annotations

import json

from tests.integration.envs.conftest import Cli


def test_help_shows_no_value_type_for_flags(cli: Cli) -> None:
    top = cli.run("--help").stdout
    assert "<bool>" not in top, top
    bench = cli.run("bench", "release", "--help").stdout
    assert "<bool>" not in bench, bench  # --keep/--no-keep and --help take no value
    assert "<int range>" in bench  # options that take a value still say which


def test_version_as_a_flag_and_as_json(cli: Cli) -> None:
    flag = cli.run("--version")
    assert flag.stdout.strip() and flag.stdout.strip()[0].isdigit(), flag.stdout
    assert cli.json("version") == {"version": flag.stdout.strip()}


def test_warm_hints_name_only_what_the_command_takes(cli: Cli) -> None:
    for verb in (("warm", "status"), ("warm", "apply", "--count", "1")):
        done = cli.run(*verb, "--output", "json", check=False)
        assert done.returncode == 2, done.stderr
        err = json.loads(done.stderr)
        assert "KUBECONFIG" in err["hint"], err
        assert "--runtime" not in err["hint"], err  # warm has no --runtime: the pool only exists in a cluster
