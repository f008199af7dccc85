"""The runtime-independent rules the Kubernetes runtime relies on: TTL, limits, gc selection, names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from envctl.envs import naming
from envctl.envs.gc import Candidate, select_expired
from envctl.envs.limits import check_limits
from envctl.envs.ownership import check_may_converge
from envctl.envs.ttl import expiry, extended, format_time, parse_time
from envctl.errors import ConfigError, Refused

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def test_expiry_respects_max_ttl() -> None:
    assert expiry(NOW, 8 * H, 7 * 24 * H) == NOW + 8 * H
    with pytest.raises(Refused, match="envs.max_ttl"):
        expiry(NOW, 8 * 24 * H, 7 * 24 * H)
    with pytest.raises(ConfigError):
        expiry(NOW, timedelta(0), H)


def test_extend_from_expiry_or_from_now() -> None:
    assert extended(NOW + 2 * H, 4 * H, NOW, 24 * H) == NOW + 6 * H
    assert extended(NOW - 5 * H, 4 * H, NOW, 24 * H) == NOW + 4 * H  # already expired: from now
    with pytest.raises(Refused, match="more than 1d from now") as err:
        extended(NOW + 20 * H, 8 * H, NOW, 24 * H)
    assert err.value.hint == "extend by at most 4h"


def test_time_round_trip() -> None:
    assert parse_time(format_time(NOW)) == NOW
    assert parse_time("garbage") is None and parse_time(None) is None


def test_limits_overall_and_per_owner() -> None:
    check_limits(["a", "b"], "a", max_total=3, max_per_owner=2)
    with pytest.raises(Refused) as err:
        check_limits(["a", "b", "c"], "d", max_total=3, max_per_owner=2)
    assert "envs.max_environments is 3" in err.value.message and "envctl gc" in (err.value.hint or "")
    with pytest.raises(Refused) as err:
        check_limits(["a", "a", "b"], "a", max_total=10, max_per_owner=2)
    assert "a already has 2 environments" in err.value.message and "envs.max_per_owner" in err.value.message


def test_gc_selects_only_expired_managed() -> None:
    cands = [
        Candidate("old", True, NOW - H),
        Candidate("fresh", True, NOW + H),
        Candidate("foreign", False, NOW - H),  # no managed-by label: never
        Candidate("no-expiry", True, None),
        Candidate("going", True, NOW - H, terminating=True),
    ]
    assert [c.name for c in select_expired(cands, NOW)] == ["old"]


def test_ownership() -> None:
    check_may_converge("dev", "alice", "alice", None)
    check_may_converge("pr-1", "alice", "bob", 1)  # a PR environment belongs to its PR
    with pytest.raises(Refused, match="belongs to alice"):
        check_may_converge("dev", "alice", "bob", None)


def test_names() -> None:
    assert naming.env_name_for_pr(42) == "pr-42"
    assert naming.namespace_for("pr-42", "envctl-") == "envctl-pr-42"
    assert naming.name_from_namespace("envctl-pr-42", "envctl-") == "pr-42"
    assert naming.label_value("alice@example.com") == "alice_example.com"
    assert len(naming.label_value("x" * 100)) == 63
    assert naming.ingress_host("dev", None, "p.example.com") == "dev.p.example.com"
