"""The Fleet of a local environment: LocalRuntime starts and retires replicas, admin HTTP does the rest.

The simulator's status file adds what only the chargers' side can see (connect attempts that
failed), which the engine uses to judge the new version's connect success ratio.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import httpx

from envctl.charger.server.admin_client import AdminClient, ReplicaUnreachable
from envctl.errors import ConfigError, NotFound
from envctl.release.fleet import HealthSample, ReplicaView, sum_health, view_from_stats
from envctl.runtimes.local import LocalRuntime, ReplicaRecord
from envctl.state import read_json


class LocalFleet:
    def __init__(self, runtime: LocalRuntime, env: str, timeout_s: float = 2.0) -> None:
        self.runtime = runtime
        self.env = env
        self.env_dir = runtime.env_dir(env)
        self.http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    # -- lookups --------------------------------------------------------------------------------

    def _records(self) -> list[ReplicaRecord]:
        return self.runtime.server_replicas(self.env)

    def _admin_url(self, rec: ReplicaRecord) -> str | None:
        if rec.admin_url:
            return rec.admin_url
        # Started by an orchestrator killed before the runtime recorded the admin port: the
        # replica's own ready file still says where it listens.
        with contextlib.suppress(OSError, ValueError, KeyError):
            port = int(read_json(self.env_dir / "replicas" / f"{rec.id}.ready.json")["admin_port"])
            return f"http://127.0.0.1:{port}"
        return None

    def _client(self, replica_id: str) -> AdminClient:
        rec = next((r for r in self._records() if r.id == replica_id), None)
        if rec is None:
            raise NotFound(f"no replica {replica_id} in environment {self.env}")
        url = self._admin_url(rec)
        if url is None or not rec.alive:
            raise ReplicaUnreachable(f"replica {replica_id} is not running")
        return AdminClient(url, self.runtime.admin_token(self.env), http=self.http)

    def _stats(self, rec: ReplicaRecord) -> dict[str, Any] | None:
        url = self._admin_url(rec)
        if url is None or not rec.alive:
            return None
        try:
            return AdminClient(url, http=self.http).stats()
        except ReplicaUnreachable:
            return None

    def replica_stats(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(id, version, /admin/stats or None) of every replica, for samplers watching from outside."""
        return [(rec.id, rec.version, self._stats(rec) if rec.alive else None) for rec in self._records()]

    def simulator_status(self) -> dict[str, Any] | None:
        try:
            data = read_json(self.env_dir / "sim-status.json")
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    # -- Fleet ----------------------------------------------------------------------------------

    def replicas(self) -> list[ReplicaView]:
        views = []
        for rec in self._records():
            alive = rec.alive
            views.append(view_from_stats(rec.id, rec.version, alive, self._stats(rec) if alive else None))
        return views

    def start(self, version: str, count: int, extra_args: Sequence[str] = (), image: str | None = None) -> list[str]:
        if image is not None:
            raise ConfigError(f"--image {image}: the local runtime runs this checkout's code, not images",
                              "leave --image out, or release on --runtime kubernetes")
        return [self.runtime.start_server_replica(self.env, version, list(extra_args)).id for _ in range(count)]

    def set_accepting(self, replica_id: str, accepting: bool) -> None:
        self._client(replica_id).listen(accepting)

    def disconnect(self, replica_id: str, count: int) -> int:
        return self._client(replica_id).disconnect(count)

    def health(self, replica_ids: Sequence[str], at: float) -> HealthSample:
        wanted = set(replica_ids)
        recs = {r.id: r for r in self._records() if r.id in wanted}
        stats = {rid: (self._stats(recs[rid]) if rid in recs else None) for rid in replica_ids}
        return sum_health(at, stats, self.simulator_status())

    def retire(self, replica_id: str) -> None:
        self.runtime.stop_server_replica(self.env, replica_id)

    def expected_chargers(self) -> int | None:
        sim = self.simulator_status()
        return int(sim["target"]) if sim and "target" in sim else None
