from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from envctl.charger.server.config import ServerConfig, read_basic_auth, read_id_list
from envctl.charger.server.handlers import _samples, ocpp_time
from envctl.charger.store import sqlite_path
from envctl.charger.store.base import format_ts, parse_ts
from envctl.charger.store.migrations import migrations_for
from envctl.charger.store.sqlite import _statements
from envctl.errors import ConfigError


def test_timestamps_normalise_to_utc() -> None:
    a = parse_ts("2024-05-01T12:00:00+02:00")
    b = parse_ts("2024-05-01T10:00:00Z")
    c = parse_ts("2024-05-01T10:00:00.000")  # naive: taken as UTC
    assert a == b == c and a.tzinfo == timezone.utc
    assert format_ts(a) == "2024-05-01T10:00:00.000000Z"
    assert ocpp_time(datetime(2024, 5, 1, 10, tzinfo=timezone.utc)) == "2024-05-01T10:00:00.000Z"


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///data/x.db") == "data/x.db"
    assert sqlite_path("sqlite:////tmp/x.db") == "/tmp/x.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"


def test_migrations_are_numbered_and_split_into_statements() -> None:
    for backend in ("sqlite", "postgres"):
        ms = migrations_for(backend)
        assert [m.version for m in ms] == list(range(1, len(ms) + 1))
    statements = _statements(migrations_for("sqlite")[0].sql)
    assert all(s.upper().startswith("CREATE") for s in statements)


def test_meter_samples_flatten_with_defaults() -> None:
    out = _samples("CP1", 2, 0, [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": [
        {"value": "1"}, {"value": "2", "measurand": "Voltage", "phase": "L1", "unit": "V"}]}])
    assert [(s.value, s.measurand, s.phase, s.transaction_id, s.connector_id) for s in out] == [
        ("1", "", "", 0, 2), ("2", "Voltage", "L1", 0, 2)]
    assert out[0].ts == datetime(2024, 5, 1, 10, tzinfo=timezone.utc) + timedelta(0)


def test_config_checks_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError):
        ServerConfig(boot_status="Maybe").check()
    with pytest.raises(ConfigError):
        ServerConfig(tls_cert=tmp_path / "c.pem").check()
    (tmp_path / "ids").write_text("A\n\n# comment\n B \n")
    assert read_id_list(tmp_path / "ids", "--allowlist") == {"A", "B"}
    (tmp_path / "auth.json").write_text('{"A": "plain"}')
    with pytest.raises(ConfigError, match="pbkdf2"):
        read_basic_auth(tmp_path / "auth.json")
    (tmp_path / "auth.json").write_text("[1]")
    with pytest.raises(ConfigError):
        read_basic_auth(tmp_path / "auth.json")
