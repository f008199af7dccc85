"""Fleet configuration: the CLI's compact spellings and how a fleet is cut into worker shards."""

from __future__ import annotations

import pytest

from envctl.charger.simulator.settings import (
    SimConfig,
    default_workers,
    parse_addresses,
    parse_id_pattern,
    parse_session_minutes,
    shards,
    validated,
)
from envctl.errors import ConfigError


def test_address_ranges_and_lists_expand_in_order() -> None:
    assert parse_addresses("127.0.0.2-127.0.0.4") == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert parse_addresses("127.0.0.9, 127.0.0.2-127.0.0.3") == ("127.0.0.9", "127.0.0.2", "127.0.0.3")
    assert len(parse_addresses("127.0.0.2-127.0.0.60")) == 59
    assert parse_addresses(None) == ()


@pytest.mark.parametrize("spec", ["127.0.0.5-127.0.0.2", "127.0.0.300", "localhost"])
def test_bad_address_specs_name_the_flag(spec: str) -> None:
    with pytest.raises(ConfigError, match="--source-addresses"):
        parse_addresses(spec)


def test_chargers_get_addresses_round_robin_by_fleet_index() -> None:
    cfg = SimConfig(source_addresses=("127.0.0.2", "127.0.0.3"))
    assert [cfg.source_address(i) for i in range(4)] == ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]
    assert SimConfig().source_address(5) is None


def test_id_pattern_numbers_from_id_start() -> None:
    cfg = SimConfig(id_pattern="CP{n:06d}", id_start=41)
    assert cfg.charger_id(0) == "CP000041" and cfg.charger_id(9) == "CP000050"
    with pytest.raises(ConfigError, match="same id"):
        parse_id_pattern("CP")
    with pytest.raises(ConfigError, match="not a valid pattern"):
        parse_id_pattern("CP{x}")
    with pytest.raises(ConfigError):
        parse_id_pattern("a/{n}")


def test_session_minutes_mean_or_range() -> None:
    assert parse_session_minutes("30") == (15.0, 45.0)
    assert parse_session_minutes("5-10") == (5.0, 10.0)
    for bad in ("x", "10-5", "0"):
        with pytest.raises(ConfigError, match="--session-minutes"):
            parse_session_minutes(bad)


def test_shards_cover_the_fleet_exactly_once_and_evenly() -> None:
    cut = shards(10, 3)
    assert [(s.start, s.count) for s in cut] == [(0, 4), (4, 3), (7, 3)]
    assert shards(2, 5) == shards(2, 2)  # never an empty worker
    assert default_workers(15_000) == 1 and default_workers(15_001) == 2 and default_workers(45_000) == 3


def test_validation_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="--reconnect"):
        validated(SimConfig(reconnect="sometimes"))
    with pytest.raises(ConfigError, match="--url"):
        validated(SimConfig(url="http://x"))
    with pytest.raises(ConfigError, match="--backoff-min"):
        validated(SimConfig(backoff_min=5, backoff_max=1))
    assert validated(SimConfig(url="ws://h:1/ocpp/")).url == "ws://h:1/ocpp"
