"""Fleet-wide ownership in the store, on SQLite and a real Postgres: epochs, fences, takeovers, stops.

Two stores opened on one database stand for two replicas (each store is what one server
process holds); everything goes through the public Store API, and the database is read back
with plain SQL where a user would look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from envctl.charger.store import Store, open_store
from envctl.charger.store.base import (
    STOP_OTHER_CHARGER,
    STOP_REPEATED,
    STOP_STORED,
    STOP_UNKNOWN,
    BootRecord,
    MeterSample,
    ReplicaInfo,
    StartRecord,
    StatusRecord,
    StopRecord,
    Superseded,
    Takeover,
)

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)



@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a = await open_store(database_url, replica_id="ra")
    b = await open_store(database_url, replica_id="rb")
    yield a, b
    await a.close()
    await b.close()


def start(cid: str = "CP1", meter: int = 0, minutes: int = 0) -> StartRecord:
    return StartRecord(cid, 1, "TAG", meter, T0 + timedelta(minutes=minutes))


async def test_each_connection_takes_the_next_epoch_fleet_wide(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    first = a.claim("CP1", T0)
    assert await first.future == 1 and first.epoch == 1
    second = b.claim("CP1", T0)
    assert await second.future == 2
    third = a.claim("CP1", T0)
    assert await third.future == 3
    owner = await b.owner("CP1")
    assert owner is not None and owner["replica_id"] == "ra" and owner["epoch"] == 3 and owner["released_at"] is None
    assert await a.owners(["CP1", "NEVER"]) == {"CP1": 3}


async def test_a_superseded_connection_cannot_write(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    old = a.claim("CP1", T0)
    await old.future
    tx = await a.start_transaction(start(), fence=old)
    new = b.claim("CP1", T0)
    await new.future
    for write in (
        a.start_transaction(start(minutes=5), fence=old),
        a.stop_transaction(StopRecord(tx, "CP1", 100, T0 + timedelta(minutes=9)), fence=old),
        a.record_meter_values([MeterSample("CP1", 1, tx, T0 + timedelta(minutes=1), "50")], fence=old),
        a.record_boot(BootRecord("CP1", "V", "M", None, None, {}, T0), fence=old),
    ):
        with pytest.raises(Superseded):
            await write
    # the current connection writes, and the row records its epoch
    assert await b.stop_transaction(StopRecord(tx, "CP1", 100, T0 + timedelta(minutes=9)), fence=new) == STOP_STORED
    [row] = await b.list_transactions("CP1")
    assert row["epoch"] == 1 and row["stop_epoch"] == 2 and row["meter_stop"] == 100
    assert await b.count_meter_values() == 0


async def test_a_write_queued_with_its_claim_is_fenced_by_the_epoch_that_claim_takes(replicas: tuple[Store, Store]) -> None:
    """The server does not wait for the claim before handling the first message: both may share a batch."""
    a, b = replicas
    old = a.claim("CP1", T0)
    boot_old = a.record_boot(BootRecord("CP1", "V", "old", None, None, {}, T0), fence=old)
    await asyncio.gather(old.future, boot_old)
    new = b.claim("CP1", T0)
    ok = b.start_transaction(start(), fence=new)  # submitted before its claim resolved
    assert new.epoch is None
    tx = await ok
    assert new.epoch == 2
    with pytest.raises(Superseded):
        await a.start_transaction(start(minutes=1), fence=old)
    assert [(r["id"], r["epoch"]) for r in await a.list_transactions("CP1")] == [(tx, 2)]


async def test_a_newer_claim_in_the_same_batch_supersedes_the_older(replicas: tuple[Store, Store]) -> None:
    a, _ = replicas
    first, second = a.claim("CP1", T0), a.claim("CP1", T0)
    results = await asyncio.gather(first.future, second.future, return_exceptions=True)  # type: ignore[arg-type]
    assert isinstance(results[0], Superseded)
    assert isinstance(results[1], int) and (await a.owners(["CP1"]))["CP1"] == results[1]


async def test_takeover_of_an_open_connection_reaches_the_previous_owner_within_a_second(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    seen: list[tuple[float, Takeover]] = []
    a.on_takeover = lambda ts: seen.extend((time.monotonic(), t) for t in ts)
    b.on_takeover = lambda ts: pytest.fail(f"b owns nothing, got {ts}")
    for cid in ("CP1", "CP2"):
        await a.claim(cid, T0).future  # type: ignore[misc]
    released = a.claim("CP3", T0)
    await released.future
    a.release(released, T0 + timedelta(seconds=1))  # closed normally: moving it is no takeover
    await asyncio.sleep(1.5)  # the release is a lazy write
    claimed_at = time.monotonic()
    await asyncio.gather(*(b.claim(cid, T0).future for cid in ("CP1", "CP2", "CP3")))  # type: ignore[misc]
    deadline = claimed_at + 3
    while len(seen) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert sorted(t.charger_id for _, t in seen) == ["CP1", "CP2"]
    assert all(t.epoch == 2 and t.replica_id == "rb" and t.previous_replica_id == "ra" for _, t in seen)
    assert max(at for at, _ in seen) - claimed_at < 1.0
    assert b.stats()["takeovers_sent"] == 2 and a.stats()["takeovers_received"] == 2


async def test_release_is_ignored_once_a_newer_connection_holds_the_charger(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    old = a.claim("CP1", T0)
    await old.future
    new = b.claim("CP1", T0)
    await new.future
    a.release(old, T0 + timedelta(minutes=1))  # the old connection's teardown arrives late
    await a.close()  # flushes the lazy release
    owner = await b.owner("CP1")
    assert owner is not None and owner["epoch"] == 2 and owner["released_at"] is None


async def test_stop_of_another_chargers_transaction_is_not_applied(replicas: tuple[Store, Store]) -> None:
    a, _ = replicas
    mine = await a.start_transaction(start("CP1"))
    theirs = await a.start_transaction(start("CP2"))
    stop = lambda tid, meter=500: StopRecord(tid, "CP1", meter, T0 + timedelta(hours=1))  # noqa: E731
    assert await a.stop_transaction(stop(theirs)) == STOP_OTHER_CHARGER
    assert await a.stop_transaction(stop(987654)) == STOP_UNKNOWN
    assert await a.stop_transaction(stop(mine)) == STOP_STORED
    assert await a.stop_transaction(stop(mine, 999)) == STOP_REPEATED
    rows = {r["id"]: r for r in await a.list_transactions()}
    assert rows[theirs]["meter_stop"] is None and rows[mine]["meter_stop"] == 500


async def test_stop_samples_take_the_connector_the_database_has(replicas: tuple[Store, Store]) -> None:
    """Replica B stops a transaction replica A started: B never saw its connector."""
    a, b = replicas
    tx = await a.start_transaction(StartRecord("CP1", 2, "TAG", 10, T0))
    samples = [MeterSample("CP1", 0, tx, T0 + timedelta(minutes=m), str(10 + m)) for m in range(3)]
    assert await b.stop_transaction(StopRecord(tx, "CP1", 13, T0 + timedelta(minutes=5), samples=samples)) == STOP_STORED
    stored = await b.list_meter_values()
    assert [(r["connector_id"], r["value"]) for r in stored] == [(2, "10"), (2, "11"), (2, "12")]


async def test_snapshot_and_owner_give_what_the_fleet_knows(replicas: tuple[Store, Store], database_url: str) -> None:
    a, b = replicas
    claim = a.claim("CP1", T0)
    await a.register_replica(ReplicaInfo("ra", "http://127.0.0.1:1234", "v1", T0))
    await a.record_boot(BootRecord("CP1", "V", "M", "SN", "1.0", {"chargePointVendor": "V"}, T0), fence=claim)
    open_tx = await a.start_transaction(start(), fence=claim)
    done = await a.start_transaction(start(minutes=1, meter=5), fence=claim)
    await a.stop_transaction(StopRecord(done, "CP1", 9, T0 + timedelta(minutes=2)), fence=claim)
    a.record_status(StatusRecord("CP1", 1, "Charging", "NoError", None, T0), fence=claim)
    a.touch("CP1", T0 + timedelta(minutes=3))
    await asyncio.sleep(1.5)  # lazy writes
    snap = await b.charger_snapshot("CP1")
    assert snap["boot"] == {"chargePointVendor": "V"}
    assert snap["connectors"] == {1: {"status": "Charging", "errorCode": "NoError"}}
    assert list(snap["open_transactions"]) == [open_tx]
    assert snap["open_transactions"][open_tx]["meterStart"] == 0
    owner = await b.owner("CP1")
    assert owner is not None
    assert (owner["replica_id"], owner["admin_url"], owner["epoch"]) == ("ra", "http://127.0.0.1:1234", 1)
    assert owner["last_seen_at"] is not None and owner["last_seen_at"].startswith("2024-05-01T10:03")
    assert await b.owner("NEVER") is None


async def test_a_status_from_a_superseded_connection_is_dropped(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    old = a.claim("CP1", T0)
    await old.future
    new = b.claim("CP1", T0)
    await new.future
    b.record_status(StatusRecord("CP1", 1, "Charging", "NoError", None, T0 + timedelta(seconds=2)), fence=new)
    await asyncio.sleep(1.5)
    a.record_status(StatusRecord("CP1", 1, "Available", "NoError", None, T0 + timedelta(seconds=1)), fence=old)
    await a.close()
    assert await b.connector_statuses("CP1") == {1: "Charging"}


@pytest.mark.postgres
async def test_a_draining_replicas_flush_and_the_new_replicas_claims_never_deadlock(
    postgres_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """A release on Postgres: while the new replica claims and boots chargers, the old one flushes
    their last-seen times and releases. Both batches lock the owner rows first, in id order; before
    that they locked a charger's two rows in opposite orders, PostgreSQL broke the deadlock after its
    1 s deadlock_timeout and the new replica's BootNotifications waited over a second."""
    caplog.set_level(logging.WARNING, logger="envctl.charger.store")
    ids = [f"CP{i:04d}" for i in range(300)]
    old, new = await open_store(postgres_url, replica_id="old"), await open_store(postgres_url, replica_id="new")
    try:
        claims = {cid: old.claim(cid, T0) for cid in ids}
        await asyncio.gather(*(c.future for c in claims.values()))  # type: ignore[misc]
        slowest = 0.0
        for round_ in range(3):  # each round outlasts the old replica's 1 s lazy flush
            at = T0 + timedelta(minutes=round_ + 1)
            for cid in ids:
                old.touch(cid, at)
                old.release(claims[cid], at)
            moved = {}
            for i in range(0, len(ids), 15):
                started = time.monotonic()
                group = {cid: new.claim(cid, at) for cid in ids[i:i + 15]}
                await asyncio.gather(*(new.record_boot(BootRecord(cid, "V", f"r{round_}", None, None, {}, at), fence=c)
                                       for cid, c in group.items()))
                slowest = max(slowest, time.monotonic() - started)
                moved |= group
                await asyncio.sleep(0.05)
            old, new, claims = new, old, moved  # the next release moves them back
        deadlocks = [r for r in caplog.records if "deadlock" in (r.exc_text or "") + r.getMessage()
                     or (r.exc_info and "Deadlock" in type(r.exc_info[1]).__name__)]
        assert not deadlocks, deadlocks[0].getMessage()
        assert slowest < 0.9, f"a claim + BootNotification took {slowest:.2f} s"
        owners = await old.owners(ids)
        assert len(owners) == len(ids) and min(owners.values()) == 4  # claimed 4 times each, nothing lost
    finally:
        await old.close()
        await new.close()
