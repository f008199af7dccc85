"""Persistence for the OCPP server. `open_store(url)` picks the backend from the URL scheme:

    sqlite:///PATH         PATH as written: f"sqlite:///{path}" works for relative and absolute paths
                           (sqlite:///data/x.db is relative, sqlite:////tmp/x.db is /tmp/x.db)
    postgresql://user@host:port/db           (postgres:// too)

The returned store is opened (migrated, writer running); `await store.close()` flushes it.

    base.py          the Store protocol and its records (claims, fences, takeovers)
    group_commit.py  durable writes as futures resolved after COMMIT; lazy writes
    fencing.py       which writes of a batch may be applied: the ownership epoch fence
    sqlite.py / sqlite_batch.py      SQLite: writer thread, takeover log polling / one batch's statements
    postgres.py / postgres_batch.py  Postgres: writer task, LISTEN / one batch's statements, NOTIFY
    reads.py         read helpers for both backends (admin API, ledger reconciliation, tests)
"""

from __future__ import annotations

from envctl.charger.store.base import Store
from envctl.errors import ConfigError

__all__ = ["Store", "open_store", "sqlite_path"]


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite://")


async def open_store(url: str, *, replica_id: str | None = None) -> Store:
    store: Store
    if url.startswith("sqlite://"):
        from envctl.charger.store.sqlite import SqliteStore

        path = sqlite_path(url)
        if not path:
            raise ConfigError(f"database URL {url!r} has no path", hint="use sqlite:///path/to/envctl.db")
        store = SqliteStore(url, path, replica_id=replica_id)
    elif url.startswith(("postgresql://", "postgres://")):
        from envctl.charger.store.postgres import PostgresStore

        store = PostgresStore(url, replica_id=replica_id)
    else:
        raise ConfigError(
            f"unsupported database URL {url!r}",
            hint="use sqlite:///path/to/file.db or postgresql://user@host:port/dbname",
        )
    await store.open()
    return store
