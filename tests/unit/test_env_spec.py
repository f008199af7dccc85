"""EnvSpec refuses a bad request before any runtime sees it; envs/converge names what differs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from envctl.envs.converge import differences, refuse_differences
from envctl.envs.model import EnvSpec
from envctl.errors import ConfigError, Refused


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("reconnect", "sometimes", "--reconnect 'sometimes'"),
        ("session_minutes", "10-5", "--session-minutes '10-5'"),
        ("ttl", timedelta(0), "--ttl must be longer than 0s"),
        ("ready_timeout_s", 0.0, "--timeout must be more than 0"),
        ("server_version", "v3 bad/../x", "invalid version 'v3 bad/../x'"),
        ("server_version", "v1\nextra: yes", "invalid version"),
        ("meter_interval", 0.0, "--meter-interval"),
        ("heartbeat_interval", 0, "--heartbeat-interval"),
        ("replicas", 0, "--replicas"),
    ],
)
def test_a_bad_request_is_refused(field: str, value: object, says: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        EnvSpec(name="ok", **{field: value})  # type: ignore[arg-type]
    assert says in err.value.message


def test_only_asked_fields_are_compared() -> None:
    running = {"chargers": 5, "replicas": 2, "server_version": "v1", "ttl": 3600.0, "reconnect": "immediate"}
    assert differences(EnvSpec(name="a", requested=frozenset()), running) == []
    assert differences(EnvSpec(name="a", chargers=5, replicas=2, ttl=timedelta(hours=1),
                               requested=frozenset({"chargers", "replicas", "ttl"})), running) == []  # fmt: skip
    diffs = differences(EnvSpec(name="a", chargers=6, server_version="v7",
                                requested=frozenset({"chargers", "server_version"})), running)  # fmt: skip
    assert [(d.field, d.running, d.asked) for d in diffs] == [("chargers", 5, 6), ("server_version", "v1", "v7")]
    with pytest.raises(Refused) as err:
        refuse_differences("a", diffs)
    assert "--chargers 5 now, 6 asked" in err.value.message and "--recreate" in (err.value.hint or "")
    assert "envctl release plan --env a --to v7" in (err.value.hint or "")
