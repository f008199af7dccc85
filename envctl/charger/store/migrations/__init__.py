"""Versioned SQL per backend: `<backend>/NNNN_name.sql`, applied in order, recorded in schema_version.

Each backend applies a file and its schema_version row in one transaction, under a lock that
serialises replicas starting at the same time (SQLite: BEGIN IMMEDIATE; Postgres: an advisory lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_for(backend: str) -> list[Migration]:
    folder = resources.files(__package__) / backend
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.partition("_")
        found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{backend} migrations must be numbered 1..N without gaps, found {versions}")
    return found


def latest_version(backend: str) -> int:
    return len(migrations_for(backend))
