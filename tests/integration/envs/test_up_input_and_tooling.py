"""What a new user meets first: bad options refused before anything starts, a broken envctl.yaml
named, progress on a non-terminal, logs of a local environment, and no litter in the state directory."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from tests.integration.envs.conftest import Cli


def _servers_of(state: Path) -> list[psutil.Process]:
    """Processes started for environments under this state directory."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(state) in part for part in p.info["cmdline"] or []):
            found.append(p)
    return found


def test_bad_options_of_up_are_refused_before_any_process_starts(cli: Cli) -> None:
    state = Path(cli.env["ENVCTL_STATE_DIR"])
    for args, says in (
        (["--reconnect", "sometimes"], "--reconnect 'sometimes' is not a reconnect policy"),
        (["--session-minutes", "10-5"], "--session-minutes '10-5' must be positive, low <= high"),
        (["--chargers", "0"], "--chargers must be at least 1"),
        (["--ttl", "0s"], "--ttl must be longer than 0s"),
        (["--timeout", "0"], "--timeout must be more than 0 seconds"),
        (["--server-version", "v3 bad/../x"], "invalid version 'v3 bad/../x' for --server-version"),
        (["--replicas", "0"], "--replicas must be >= 1"),
    ):
        done = cli.run("up", "bad", "--runtime", "local", *args, "--output", "json", check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert says in json.loads(done.stderr)["message"], (args, done.stderr)
        assert not (state / "envs" / "bad").exists(), args
        assert not _servers_of(state), f"{args} left a process running"


def test_bad_version_and_timeouts_of_release_plan_are_refused(cli: Cli) -> None:
    cli.up("rel", "--chargers", "1")
    for args, says in (
        (["--to", "v3 bad/../x"], "invalid version 'v3 bad/../x' for --to"),
        (["--to", "v2", "--ready-timeout", "0"], "--ready-timeout and --verify-timeout must be more than 0 s"),
        (["--to", "v2", "--budget", "0"], "--budget must be > 0"),
    ):
        done = cli.run("release", "plan", "--env", "rel", *args, "--output", "json", check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert says in json.loads(done.stderr)["message"], (args, done.stderr)
    assert not (Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / "rel" / "releases").exists()


def test_a_port_out_of_range_is_refused_before_listening(cli: Cli) -> None:
    for args in (["server", "--port", "99999"], ["server", "--admin-port", "70000"], ["dashboard", "--port", "99999"]):
        done = cli.run(*args, check=False, timeout=30)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "65535" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert "http://" not in done.stdout + done.stderr  # no URL for a port it does not listen on


def test_a_malformed_envctl_yaml_is_named_by_every_local_command(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "envctl.yaml"
    config.write_text("envs:\n  max_ttl: forever\n  max_per_owner: [\n")
    for args in (["up", "cfg", "--chargers", "1"], ["status", "cfg"], ["list"], ["down", "cfg"]):
        done = cli.run(*args, "--runtime", "local", "--output", "json", check=False, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "envctl.yaml" in json.loads(done.stderr)["message"], (args, done.stderr)
    config.write_text("envs:\n  max_ttl: forever\n")
    done = cli.run("list", "--runtime", "local", "--output", "json", check=False, cwd=tmp_path)
    assert done.returncode == 2 and "envctl.yaml: envs.max_ttl: invalid duration 'forever'" in done.stderr
    assert not (Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / "cfg").exists()


def test_up_on_a_non_terminal_prints_progress_lines(cli: Cli) -> None:
    cli.created.append("lines")
    done = cli.run("up", "lines", "--runtime", "local", "--chargers", "2")  # stderr is a pipe, not a TTY

    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("starting charger-server replica 1/1" in line for line in lines), done.stderr
    assert any("chargers connected 2/2" in line for line in lines), done.stderr
    assert "lines (local): Ready" in done.stdout


def test_logs_of_a_local_environment_are_shown(cli: Cli) -> None:
    cli.up("logged", "--chargers", "2", "--replicas", "2")

    servers = cli.json("logs", "logged", "--runtime", "local")
    text = cli.run("logs", "logged", "--runtime", "local", "--tail", "5")
    simulator = cli.json("logs", "logged", "--runtime", "local", "--component", "simulator")

    assert set(servers) == {"server-r1", "server-r2"}
    assert all('"event":"ready"' in t for t in servers.values()), servers
    assert "server-r1" in text.stdout and text.returncode == 0
    assert set(simulator) == {"simulator"}


def test_missing_environments_and_down_leave_no_lock_files(cli: Cli) -> None:
    state = Path(cli.env["ENVCTL_STATE_DIR"])
    for args in (["status", "nosuch"], ["extend", "nosuch", "1h"], ["down", "nosuch"], ["logs", "nosuch"]):
        cli.run(*args, "--runtime", "local", check=False)
    cli.up("brief", "--chargers", "1")
    cli.run("down", "brief", "--runtime", "local")

    assert sorted(p.name for p in state.rglob("*.lock")) == []
    assert not (state / "envs" / "brief").exists()
