"""envctl.yaml: defaults, and errors that name the file and the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from envctl.config import Config, load_config, parse_config, quantity_value
from envctl.errors import ConfigError


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENVCTL_CONFIG", raising=False)
    cfg = load_config()
    assert cfg == Config()
    assert cfg.kubernetes.database.kind == "postgres"  # replicas share one store on Kubernetes
    assert cfg.envs.default_ttl == timedelta(hours=8)


def test_file_values_are_read(tmp_path: Path) -> None:
    f = tmp_path / "envctl.yaml"
    f.write_text(
        "envs: {max_environments: 3, max_ttl: 2d}\n"
        "kubernetes:\n  quota: {cpu: 500m, memory: 1Gi}\n  ingress: {enabled: true, domain: pr.example.org}\n"
        "  ready_timeout: 90s\n"
        "release: {anything: goes}  # other owners' sections are allowed\n"
    )
    cfg = load_config(f)
    assert cfg.envs.max_environments == 3
    assert cfg.envs.max_ttl == timedelta(days=2)
    assert cfg.kubernetes.quota.cpu == "500m"
    assert cfg.kubernetes.ingress.domain == "pr.example.org"
    assert cfg.kubernetes.ready_timeout == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kubernetes": {"quota": {"cpu": "4 cores"}}}, "envctl.yaml: kubernetes.quota.cpu: not a Kubernetes quantity: '4 cores'"),
        ({"kubernetes": {"quota": {"pods": 0}}}, "envctl.yaml: kubernetes.quota.pods: Input should be greater than or equal to 1"),
        ({"kubernetes": {"quota": {"cpuu": 1}}}, "envctl.yaml: kubernetes.quota.cpuu: unknown field"),
        ({"kubernetes": {"server": {"cpu": "2", "cpu_limit": "1"}}}, "envctl.yaml: kubernetes.server: cpu request 2 is above cpu_limit 1"),
        ({"kubernetes": {"server": {"cpu_limit": "4"}}}, "kubernetes: server.cpu_limit 4 is above limits.max_cpu 2"),
        ({"kubernetes": {"database": {"kind": "mysql"}}}, "envctl.yaml: kubernetes.database.kind: Input should be 'sqlite' or 'postgres'"),
        ({"kubernetes": {"ingress": {"domain": "Not A Domain"}}}, "envctl.yaml: kubernetes.ingress.domain: not a DNS name"),
        ({"kubernetes": {"namespace_prefix": "Preview_"}}, "envctl.yaml: kubernetes.namespace_prefix:"),
        ({"envs": {"default_ttl": "forever"}}, "envctl.yaml: envs.default_ttl: invalid duration 'forever'"),
        ({"envs": {"max_per_owner": -1}}, "envctl.yaml: envs.max_per_owner:"),
    ],
)
def test_errors_name_the_field(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert expected in err.value.message
    assert err.value.hint and "envctl.yaml" in err.value.hint


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"kubernetes": {"quota": {"cpu": "x", "memory": "y"}}})
    assert "kubernetes.quota.cpu" in err.value.message and "kubernetes.quota.memory" in err.value.message


def test_bad_yaml_says_where(tmp_path: Path) -> None:
    f = tmp_path / "envctl.yaml"
    f.write_text("kubernetes:\n  quota: {cpu: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.message.startswith("envctl.yaml: line ")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config(["a"])


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("text", "value"), [("500m", 0.5), ("2", 2.0), ("256Mi", 256 * 2**20), ("1G", 1e9), ("1e3", 1000.0)])
def test_quantities(text: str, value: float) -> None:
    assert quantity_value(text) == value
