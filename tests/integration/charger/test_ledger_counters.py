"""Every ledger counter can fail: rows deleted, altered or added behind the server's back (plain SQL)
move exactly the matching counter. On SQLite and a real Postgres, with the real simulator against
the real server."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from envctl.bench.transactions import MUST_BE_ZERO, count, failures
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from envctl.charger.store import sqlite_path
from tests.integration.charger.conftest import running_server

pytestmark = pytest.mark.timeout(120)



def sql_runner(url: str) -> Callable[[str], Awaitable[list[Any]]]:
    """Run one statement directly on the database, as an operator's psql/sqlite3 session would."""
    async def run(statement: str) -> list[Any]:
        if url.startswith("sqlite"):
            with sqlite3.connect(sqlite_path(url)) as db:
                return db.execute(statement).fetchall()
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(statement)]
        finally:
            await conn.close()

    return run


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def moved(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    keys = MUST_BE_ZERO + ("stops_phantom",)
    return {k: after[k] - before[k] for k in keys if after.get(k) != before.get(k)}


async def test_each_counter_moves_when_the_database_disagrees_with_the_chargers(tmp_path: Path, database_url: str) -> None:
    ledger_dir = str(tmp_path / "ledger")
    async with running_server(tmp_path, database_url=database_url, replica_id="r1") as cs:
        cfg = SimConfig(
            url=f"ws://127.0.0.1:{cs.ocpp_port}/ocpp", chargers=10, session_rate=3600 * 2,
            session_minutes=(0.02, 0.04), meter_interval=0.3, seed=5, ledger_dir=ledger_dir,
        )  # fmt: skip
        w = Worker(cfg, Shard(0, 0, cfg.chargers))
        w.start()
        try:
            await until(lambda: w.stats.sessions_stopped >= 12)
            for cp in w.chargers:  # no new sessions; let the running ones finish and the queues drain
                if cp.arrival_timer is not None:
                    cp.arrival_timer.cancel()
                    cp.arrival_timer = None
            await until(lambda: w.stats.sessions_started == w.stats.sessions_stopped and w.stats.tx_queued == 0)
        finally:
            await w.stop()
    sql = sql_runner(database_url)
    clean = await asyncio.to_thread(count, ledger_dir, database_url)
    assert failures(clean) == [] and clean["stops_phantom"] == 0, clean
    assert clean["acknowledged"] >= 12 and clean["meter_values_acknowledged"] >= 12, clean

    # Transactions to spoil, one per check, so their effects do not overlap.
    with_samples = [r[0] for r in await sql(
        "SELECT t.id FROM transactions t JOIN transaction_stops s ON s.transaction_id = t.id "
        "JOIN meter_values m ON m.transaction_id = t.id GROUP BY t.id HAVING count(*) >= 3 ORDER BY t.id")]
    stopped = [r[0] for r in await sql(
        "SELECT t.id FROM transactions t JOIN transaction_stops s ON s.transaction_id = t.id "
        "WHERE NOT EXISTS (SELECT 1 FROM meter_values m WHERE m.transaction_id = t.id) ORDER BY t.id")]
    if len(stopped) < 3:  # every session had samples: energy checks then count the samples' view too
        stopped = [r[0] for r in await sql(
            "SELECT t.id FROM transactions t JOIN transaction_stops s ON s.transaction_id = t.id ORDER BY t.id DESC")]
    assert len(with_samples) >= 2 and len(stopped) >= 3, (with_samples, stopped)
    t_samples, t_samples2 = with_samples[0], with_samples[1]
    t_stop_gone, t_stop_bent, t_start_bent = [t for t in stopped if t not in (t_samples, t_samples2)][:3]

    async def spoil(statement: str) -> dict[str, int]:
        nonlocal clean
        await sql(statement)
        after = await asyncio.to_thread(count, ledger_dir, database_url)
        delta, clean = moved(clean, after), after
        return delta

    assert await spoil(f"DELETE FROM transaction_stops WHERE transaction_id = {t_stop_gone}") == {"stops_lost": 1}
    bent = await spoil(f"UPDATE transaction_stops SET meter_stop = meter_stop + 7 WHERE transaction_id = {t_stop_bent}")
    assert bent == {"stops_lost": 1, "energy_mismatch_wh": 7}
    has_samples = (await sql(f"SELECT count(*) FROM meter_values WHERE transaction_id = {t_start_bent}"))[0][0] > 0
    assert await spoil(f"UPDATE transactions SET meter_start = meter_start - 3 WHERE id = {t_start_bent}") == {
        "energy_mismatch_wh": 6 if has_samples else 3}  # register and, when it has them, samples
    first_sample = (await sql(f"SELECT min(id) FROM meter_values WHERE transaction_id = {t_samples}"))[0][0]
    assert await spoil(f"DELETE FROM meter_values WHERE id = {first_sample}") == {"meter_values_lost": 1}
    second_sample = (await sql(f"SELECT min(id) FROM meter_values WHERE transaction_id = {t_samples2}"))[0][0]
    assert await spoil(f"UPDATE meter_values SET value = '123456' WHERE id = {second_sample}") == {"meter_values_lost": 1}
    assert await spoil(
        "INSERT INTO meter_values (charger_id, connector_id, transaction_id, ts, measurand, phase, location, context, "
        "unit, value) SELECT charger_id, connector_id, transaction_id, ts, 'Power.Active.Import', phase, location, "
        f"context, 'W', '42' FROM meter_values WHERE id = {second_sample}") == {"meter_values_phantom": 1}
    copy = ("INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start, started_at, created_at, replica_id) "
            "SELECT {charger}, connector_id, {tag}, meter_start, started_at, created_at, replica_id FROM transactions "
            f"WHERE id = {t_samples}")
    assert await spoil(copy.format(charger="charger_id", tag="'SOMEONE-ELSE'")) == {"duplicated": 1}
    assert await spoil(copy.format(charger="'GHOST-CHARGER'", tag="id_tag")) == {"phantom": 1}
    ghost = (await sql("SELECT max(id) FROM transactions WHERE charger_id = 'GHOST-CHARGER'"))[0][0]
    assert await spoil(
        "INSERT INTO transaction_stops (transaction_id, charger_id, meter_stop, stopped_at, created_at) "
        f"SELECT id, charger_id, meter_start + 1, started_at, created_at FROM transactions WHERE id = {ghost}"
    ) == {"stops_phantom": 1}
    assert await spoil(f"UPDATE transactions SET id_tag = 'NOT-THE-TAG' WHERE id = {t_samples2}") == {"id_mismatch": 1}
    assert await spoil(f"DELETE FROM transactions WHERE id = {t_stop_gone}") == {"lost": 1}
    assert set(failures(clean)) >= {"lost = 1", "phantom = 1", "duplicated = 1", "stops_lost = 2"}
