"""Where the dashboard may listen, and with which tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.dashboard.settings import SHARED_TOKEN_HOLDER, DashboardSettings, is_loopback, load_tokens
from envctl.errors import ConfigError


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "192.168.0.1"])
def test_hosts_beyond_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_an_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot resolve"):
        is_loopback("no-such-host.invalid")


def test_exposed_without_a_token_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVCTL_DASHBOARD_TOKEN", raising=False)
    monkeypatch.delenv("ENVCTL_DASHBOARD_TOKENS_FILE", raising=False)
    with pytest.raises(ConfigError, match="refusing to serve") as err:
        DashboardSettings.for_bind("0.0.0.0", 8090)
    assert "ENVCTL_DASHBOARD_TOKEN" in (err.value.hint or "")
    local = DashboardSettings.for_bind("127.0.0.1", 8090)
    assert not local.exposed and not local.actions_enabled


def test_exposed_with_a_token_guards_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCTL_DASHBOARD_TOKEN", "x" * 20)
    s = DashboardSettings.for_bind("0.0.0.0", 8090)
    assert s.exposed and s.actions_enabled and s.tokens == {"x" * 20: SHARED_TOKEN_HOLDER}


def test_tokens_file(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text("# comment\n\nalice aaaaaaaaaaaaaaaaaaaa\nbob   bbbbbbbbbbbbbbbbbbbb\n")
    assert load_tokens(None, str(f)) == {"a" * 20: "alice", "b" * 20: "bob"}
    f.write_text("carol\n")
    with pytest.raises(ConfigError, match="line 1: expected `NAME TOKEN`"):
        load_tokens(None, str(f))
    f.write_text("dave short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        load_tokens(None, str(f))
    with pytest.raises(ConfigError, match="cannot read"):
        load_tokens(None, str(tmp_path / "missing"))
