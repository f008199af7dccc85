"""The local runtime: an environment as processes on this machine (the embedded default).

R charger-server replicas share one OCPP port through SO_REUSEPORT, so a replica that stops
listening (draining) no longer receives new connections while the others still do; the
simulator's chargers connect to that one port. Each environment lives in its own directory
under the state root, so two environments run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from envctl.config import load_config
from envctl.envs.model import EnvSpec, EnvStatus, ServerStatus, utcnow, validate_name
from envctl.envs.ttl import extended
from envctl.errors import EnvctlError, NotFound, Timeout
from envctl.runtimes.base import Progress, no_progress
from envctl.runtimes.local import processes
from envctl.runtimes.local.record import EnvRecord, ReplicaRecord, SimulatorRecord
from envctl.state import read_json, state_root

CHARGERS_PER_SIM_WORKER = 15_000  # below the 20,000-descriptor cap per process, with headroom
# One source address gives ~28,000 ephemeral ports towards the OCPP port; spreading the chargers
# over several loopback addresses keeps reconnect storms of big fleets clear of EADDRNOTAVAIL.
CHARGERS_PER_SOURCE_ADDRESS = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRuntime:
    name = "local"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_root()
        self.envs_dir = self.root / "envs"

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, spec: EnvSpec, progress: Progress = no_progress) -> EnvStatus:
        with self._locked(spec.name):
            env_dir = self.env_dir(spec.name)
            if (env_dir / "env.json").exists():
                current = self._status(EnvRecord.load(env_dir))
                if current.phase == "Ready" and current.chargers_target == spec.chargers:
                    return current
                self._remove(spec.name)  # a crashed or different earlier `up`: start clean
            record = self._new_record(spec)
            env_dir.mkdir(parents=True, exist_ok=True)
            record.save(env_dir)
            try:
                total = spec.replicas + 1 + spec.chargers
                for i in range(spec.replicas):
                    progress(f"starting charger-server replica {i + 1}/{spec.replicas}", i, total)
                    self._start_replica(record, env_dir, spec.server_version or "v1", [])
                progress("starting simulator", spec.replicas, total)
                self._start_simulator(record, env_dir, spec)
                self._wait_connected(record, env_dir, spec, progress, total)
            except BaseException as err:
                record.phase, record.message = "Failed", str(err)
                record.save(env_dir)
                raise
            record.phase, record.message = "Ready", None
            record.save(env_dir)
            return self._status(record)

    def status(self, name: str) -> EnvStatus:
        return self._status(self._load(name))

    def list(self) -> list[EnvStatus]:
        if not self.envs_dir.is_dir():
            return []
        found = []
        for env_dir in sorted(self.envs_dir.iterdir()):
            if (env_dir / "env.json").is_file():
                with contextlib.suppress(EnvctlError, ValueError, OSError):
                    found.append(self._status(EnvRecord.load(env_dir)))
        return found

    def down(self, name: str) -> bool:
        validate_name(name)
        with self._locked(name):
            return self._remove(name)

    def extend(self, name: str, by: timedelta) -> datetime:
        with self._locked(name):
            record = self._load(name)
            record.expires_at = extended(record.expires_at, by, utcnow(), load_config().envs.max_ttl)
            record.save(self.env_dir(name))
            return record.expires_at

    # -- server replicas, for the release engine -------------------------------------------

    def env_dir(self, name: str) -> Path:
        return self.envs_dir / validate_name(name)

    def server_replicas(self, name: str) -> list[ReplicaRecord]:
        return list(self._load(name).replicas)

    def start_server_replica(self, name: str, version: str, extra_args: list[str] | None = None) -> ReplicaRecord:
        with self._locked(name):
            record = self._load(name)
            return self._start_replica(record, self.env_dir(name), version, list(extra_args or []))

    def stop_server_replica(self, name: str, replica_id: str, kill: bool = False, grace_s: float = 10.0) -> None:
        with self._locked(name):
            record = self._load(name)
            replica = next((r for r in record.replicas if r.id == replica_id), None)
            if replica is None:
                return
            processes.stop(replica.process, grace_s=grace_s, kill=kill)
            record.replicas = [r for r in record.replicas if r.id != replica_id]
            record.save(self.env_dir(name))

    # -- internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """One mutation of an environment at a time, across processes."""
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.envs_dir / f".{validate_name(name)}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def _load(self, name: str) -> EnvRecord:
        env_dir = self.env_dir(name)
        if not (env_dir / "env.json").is_file():
            raise NotFound(f"no local environment named {name!r}", "see `envctl list`, or create it with `envctl up`")
        return EnvRecord.load(env_dir)

    def _new_record(self, spec: EnvSpec) -> EnvRecord:
        env_dir = self.env_dir(spec.name)
        now = utcnow()
        spec_data = asdict(spec)
        spec_data["ttl"] = spec.ttl.total_seconds()
        return EnvRecord(
            name=spec.name,
            spec=spec_data,
            created_at=now,
            expires_at=now + spec.ttl,
            ocpp_port=_free_port(),
            database_url=spec.database_url or f"sqlite:///{env_dir / 'charger.db'}",
        )

    def _start_replica(self, record: EnvRecord, env_dir: Path, version: str, extra_args: list[str]) -> ReplicaRecord:
        replica_id = f"r{record.next_replica}"
        record.next_replica += 1
        ready_file = env_dir / "replicas" / f"{replica_id}.ready.json"
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        ready_file.unlink(missing_ok=True)
        log = env_dir / "logs" / f"server-{replica_id}.log"
        spec = record.spec
        args = [
            "server", "--host", "127.0.0.1", "--port", str(record.ocpp_port), "--reuse-port",
            "--admin-host", "127.0.0.1", "--admin-port", "0",
            "--database-url", record.database_url, "--server-version", version, "--replica-id", replica_id,
            "--heartbeat-interval", str(spec.get("heartbeat_interval", 60)), "--ready-file", str(ready_file),
            *extra_args,
        ]  # fmt: skip
        proc = processes.spawn(args, log)
        replica = ReplicaRecord(
            id=replica_id, version=version, pid=proc.pid, started_at=proc.started_at,
            ocpp_port=record.ocpp_port, log=str(log), extra_args=extra_args,
        )  # fmt: skip
        record.replicas.append(replica)
        record.save(env_dir)  # before waiting: `down` must find it even if we die now
        deadline = time.monotonic() + 60
        while not ready_file.exists():
            if not proc.alive:
                raise EnvctlError(
                    f"charger-server replica {replica_id} ({version}) exited during start-up",
                    f"its last log lines:\n{processes.tail(log)}",
                )
            if time.monotonic() > deadline:
                raise Timeout(f"charger-server replica {replica_id} not ready after 60 s", f"see {log}")
            time.sleep(0.05)
        replica.admin_port = int(read_json(ready_file)["admin_port"])
        record.save(env_dir)
        return replica

    def _start_simulator(self, record: EnvRecord, env_dir: Path, spec: EnvSpec) -> None:
        status_file, ledger_dir = env_dir / "sim-status.json", env_dir / "ledger"
        report_file, log = env_dir / "sim-report.json", env_dir / "logs" / "simulator.log"
        workers = max(1, -(-spec.chargers // CHARGERS_PER_SIM_WORKER))
        addresses = max(2, -(-spec.chargers // CHARGERS_PER_SOURCE_ADDRESS))
        args = [
            "sim", "--url", f"ws://127.0.0.1:{record.ocpp_port}/ocpp", "--chargers", str(spec.chargers),
            "--workers", str(workers), "--reconnect", spec.reconnect, "--session-rate", str(spec.session_rate),
            "--session-minutes", spec.session_minutes, "--meter-interval", str(spec.meter_interval),
            "--status-file", str(status_file), "--ledger-dir", str(ledger_dir), "--report", str(report_file),
            "--source-addresses", f"127.0.0.2-127.0.0.{1 + min(addresses, 250)}", "--no-live", "--duration", "0",
        ]  # fmt: skip
        proc = processes.spawn(args, log)
        record.simulator = SimulatorRecord(
            pid=proc.pid, started_at=proc.started_at, status_file=str(status_file),
            ledger_dir=str(ledger_dir), report_file=str(report_file), log=str(log),
        )  # fmt: skip
        record.save(env_dir)

    def _wait_connected(
        self, record: EnvRecord, env_dir: Path, spec: EnvSpec, progress: Progress, total: int
    ) -> None:
        assert record.simulator is not None
        deadline = time.monotonic() + spec.ready_timeout_s
        connected = 0
        while True:
            connected = self._sim_status(record).get("connected", 0)
            progress(f"chargers connected {connected}/{spec.chargers}", spec.replicas + 1 + connected, total)
            if connected >= spec.chargers:
                return
            if not record.simulator.process.alive:
                raise EnvctlError(
                    "the charger simulator exited before every charger connected",
                    f"its last log lines:\n{processes.tail(Path(record.simulator.log))}",
                )
            dead = [r.id for r in record.replicas if not r.alive]
            if len(dead) == len(record.replicas):
                raise EnvctlError("every charger-server replica exited", f"see logs in {env_dir / 'logs'}")
            if time.monotonic() > deadline:
                raise Timeout(
                    f"only {connected} of {spec.chargers} chargers connected after {spec.ready_timeout_s:.0f} s",
                    f"see {record.simulator.log}; run `envctl down {spec.name}` to clean up",
                )
            time.sleep(0.2)

    def _sim_status(self, record: EnvRecord) -> dict[str, int]:
        if record.simulator is None:
            return {}
        try:
            data = read_json(Path(record.simulator.status_file))
            return data if isinstance(data, dict) else {}
        except (OSError, json.JSONDecodeError):
            return {}

    def _status(self, record: EnvRecord) -> EnvStatus:
        servers = []
        with httpx.Client(timeout=1.0) as http:
            for replica in record.replicas:
                stats = None
                if replica.admin_url and replica.alive:
                    with contextlib.suppress(httpx.HTTPError, ValueError):
                        stats = http.get(f"{replica.admin_url}/admin/stats").json()
                servers.append(
                    ServerStatus(
                        id=replica.id,
                        version=replica.version,
                        ready=bool(stats) and not stats.get("draining", False) and stats.get("accepting", True),
                        connections=int(stats.get("connections", 0)) if stats else 0,
                    )
                )
        sim_alive = record.simulator is not None and record.simulator.process.alive
        connected = int(self._sim_status(record).get("connected", 0)) if sim_alive else 0
        target = int(record.spec.get("chargers", 0))  # type: ignore[call-overload]
        alive = [s for s in servers if s.ready]
        if record.phase == "Starting":
            phase = "Starting"
        elif not alive or not sim_alive:
            phase = "Failed"
        elif connected < target or len(alive) < len(servers):
            phase = "Degraded"
        else:
            phase = "Ready"
        admin = next((r.admin_url for r in record.replicas if r.admin_url), None)
        return EnvStatus(
            name=record.name,
            runtime="local",
            phase=phase,  # type: ignore[arg-type]
            chargers_target=target,
            chargers_connected=connected,
            servers=servers,
            endpoints={"ocpp": f"ws://127.0.0.1:{record.ocpp_port}/ocpp", "admin": admin or ""},
            expires_at=record.expires_at,
            pr=record.spec.get("pr"),  # type: ignore[arg-type]
            owner=record.spec.get("owner"),  # type: ignore[arg-type]
            created_at=record.created_at,
            message=record.message,
        )

    def _remove(self, name: str) -> bool:
        env_dir = self.env_dir(name)
        if not (env_dir / "env.json").is_file():
            existed = env_dir.exists()
            shutil.rmtree(env_dir, ignore_errors=True)
            return existed
        record = EnvRecord.load(env_dir)
        # The simulator first: stopping servers under live chargers would be a reconnect storm.
        if record.simulator is not None:
            processes.stop(record.simulator.process, grace_s=10)
        processes.stop_all([r.process for r in record.replicas], grace_s=10)
        shutil.rmtree(env_dir, ignore_errors=True)
        return True
