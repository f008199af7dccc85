"""The store on both backends: migrations, group commit, idempotent resends, reads, replicas sharing a database."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from envctl.charger.store import Store, open_store
from envctl.charger.store.base import BootRecord, MeterSample, StartRecord, StatusRecord, StopRecord
from envctl.charger.store.migrations import latest_version
from envctl.errors import ConfigError

pytestmark = pytest.mark.timeout(30)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)



@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    st = await open_store(database_url, replica_id="r1")
    yield st
    await st.close()


def start(cid: str = "CP1", meter: int = 0, minutes: int = 0, connector: int = 1) -> StartRecord:
    return StartRecord(cid, connector, "TAG", meter, T0 + timedelta(minutes=minutes))


async def test_migrations_are_recorded_and_reopening_is_a_no_op(database_url: str) -> None:
    st = await open_store(database_url)
    assert await st.schema_version() == latest_version("sqlite" if database_url.startswith("sqlite") else "postgres")
    await st.close()
    st = await open_store(database_url)  # a second open (another replica, a restart) migrates nothing
    assert await st.schema_version() >= 1
    await st.close()


async def test_start_transaction_resend_gets_the_same_id_and_no_new_row(store: Store) -> None:
    first = await store.start_transaction(start())
    again = await store.start_transaction(start())
    other = await store.start_transaction(start(minutes=5, meter=100))
    assert first == again != other
    assert await store.count_transactions() == 2
    assert await store.find_duplicate_transactions() == []


async def test_resends_inside_one_batch_are_deduplicated(store: Store) -> None:
    ids = await asyncio.gather(*[store.start_transaction(start()) for _ in range(10)])
    assert len(set(ids)) == 1
    assert await store.count_transactions() == 1


async def test_many_concurrent_writes_share_few_commits(store: Store) -> None:
    commits_before = store.stats()["commits"]
    ids = await asyncio.gather(*[store.start_transaction(start(f"CP{i}")) for i in range(2000)])
    assert len(set(ids)) == 2000
    assert store.stats()["commits"] - commits_before < 200  # group commit: far fewer commits than writes
    assert await store.count_transactions() == 2000


async def test_stop_is_stored_once_and_meter_values_are_deduplicated(store: Store) -> None:
    tx = await store.start_transaction(start())
    stop = StopRecord(tx, "CP1", 500, T0 + timedelta(hours=1), id_tag="TAG", reason="Local")
    await store.stop_transaction(stop)
    await store.stop_transaction(StopRecord(tx, "CP1", 999, T0 + timedelta(hours=2)))  # resend: the first one stays
    samples = [
        MeterSample("CP1", 1, tx, T0 + timedelta(minutes=m), str(m * 10), measurand="Energy.Active.Import.Register")
        for m in range(3)
    ] + [MeterSample("CP1", 1, tx, T0, "7", measurand="Power.Active.Import", phase="L1")]
    await store.record_meter_values(samples)
    await store.record_meter_values(samples)  # resent after a reconnect
    assert await store.count_meter_values("CP1") == 4
    [row] = await store.list_transactions("CP1")
    assert row["meter_stop"] == 500 and row["reason"] == "Local"
    assert await store.list_transactions("OTHER") == []


async def test_boot_upsert_counts_boots_and_lazy_writes_flush_on_close(database_url: str) -> None:
    st = await open_store(database_url, replica_id="r1")
    for _ in range(3):
        await st.record_boot(BootRecord("CP1", "V", "M", "SN1", "1.2", {"chargePointVendor": "V"}, T0))
    st.touch("CP1", T0 + timedelta(minutes=3))
    st.record_status(StatusRecord("CP1", 1, "Charging", "NoError", None, T0))
    st.record_status(StatusRecord("CP1", 2, "Available", "NoError", None, T0))
    await st.close()
    st = await open_store(database_url)
    row = await st.get_charger("CP1")
    assert row is not None
    assert row["boot_count"] == 3 and row["serial_number"] == "SN1" and row["replica_id"] == "r1"
    assert row["boot_payload"] == {"chargePointVendor": "V"}
    assert row["last_seen_at"] is not None
    assert await st.connector_statuses("CP1") == {1: "Charging", 2: "Available"}
    assert await st.count_chargers() == 1
    await st.close()


async def test_two_replicas_on_one_database_never_share_a_transaction_id(database_url: str) -> None:
    a = await open_store(database_url, replica_id="a")
    b = await open_store(database_url, replica_id="b")
    try:
        ids = await asyncio.gather(*[
            (a if i % 2 else b).start_transaction(start(f"CP{i}")) for i in range(400)
        ])
        assert len(set(ids)) == 400
        # the same resend arriving at the other replica maps to the same row
        assert await b.start_transaction(start("CP1")) == ids[1]
        assert await a.count_transactions() == 400
    finally:
        await a.close()
        await b.close()


def _writer_process(url: str, prefix: str, n: int, out: "multiprocessing.Queue[list[int]]") -> None:
    async def main() -> None:
        st = await open_store(url, replica_id=prefix)
        ids = await asyncio.gather(*[st.start_transaction(start(f"{prefix}{i}")) for i in range(n)])
        await st.close()
        out.put(list(ids))

    asyncio.run(main())


def test_sqlite_file_shared_by_processes(tmp_path: Path) -> None:
    """Separate processes writing the same SQLite file wait on each other (busy_timeout), not fail."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[int]] = ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(url, p, 300, out)) for p in ("A", "B", "C")]
    for p in procs:
        p.start()
    results = [out.get(timeout=25) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    all_ids = [i for r in results for i in r]
    assert len(all_ids) == 900 and len(set(all_ids)) == 900
    with sqlite3.connect(tmp_path / "shared.db") as db:
        assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] == 900
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _opener_process(url: str, barrier: "multiprocessing.synchronize.Barrier", out: "multiprocessing.Queue[str]") -> None:
    async def main() -> None:
        barrier.wait()
        try:
            st = await open_store(url)
            await st.close()
            out.put("ok")
        except Exception as err:  # reported to the parent, which names it
            out.put(repr(err))

    asyncio.run(main())


def test_replicas_opening_a_new_sqlite_file_at_the_same_moment_all_start(tmp_path: Path) -> None:
    """The local runtime starts an environment's replicas together on one new file: turning it to WAL
    raced, and SQLite answered "database is locked" at once rather than waiting (4 of 320 opens failed
    in 40 rounds of 8 before the fix)."""
    ctx = multiprocessing.get_context("fork")
    failures: list[str] = []
    for round_ in range(25):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        barrier, out = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_opener_process, args=(url, barrier, out)) for _ in range(8)]
        for p in procs:
            p.start()
        failures += [r for r in (out.get(timeout=30) for _ in procs) if r != "ok"]
        for p in procs:
            p.join(10)
    assert failures == []


async def test_unknown_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        await open_store("mysql://nope")
