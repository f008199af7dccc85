"""The local runtime: an environment as processes on this machine (the embedded default).

R charger-server replicas share one OCPP port through SO_REUSEPORT, so a replica that stops
listening (draining) no longer receives new connections while the others still do; the
simulator's chargers connect to that one port. Each environment lives in its own directory
under the state root, so two environments run side by side.

Each environment has its own admin token, generated at `up` and kept in its record: every replica
gets it as ENVCTL_ADMIN_TOKEN (so its drain/listen/disconnect/call endpoints are protected), and
envctl's own clients (the release engine, `envctl charger`) send it. The replicas find each other
through the shared store, so any replica's admin API answers for every charger of the environment.
`spec.extra["server_args"]` are passed to every replica the environment ever starts (benchmarks
use it for options such as --max-accept-rate).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from envctl.config import Config, load_config
from envctl.envs.converge import differences, refuse_differences
from envctl.envs.model import EnvSpec, EnvStatus, ServerStatus, utcnow, validate_name
from envctl.envs.ttl import expiry, extended
from envctl.errors import ConfigError, EnvctlError, NotFound, Refused
from envctl.runtimes.base import Progress, no_progress
from envctl.runtimes.local import launch, processes, releases
from envctl.runtimes.local.launch import sim_status
from envctl.runtimes.local.record import EnvRecord, ReplicaRecord
from envctl.state import state_root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRuntime:
    name = "local"

    def __init__(self, root: Path | None = None, config: Config | None = None) -> None:
        self.root = root or state_root()
        self.envs_dir = self.root / "envs"
        # Read (and validated) by every command that opens the runtime: a broken envctl.yaml is
        # an error now, not a surprise when some later command happens to need it.
        self.config = config or load_config()

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, spec: EnvSpec, progress: Progress = no_progress, recreate: bool = False) -> EnvStatus:
        """Create the environment; on an existing one, converge it without losing anything:
        nothing changes when the request matches (crashed processes are restarted in place,
        the database kept), and a request that differs is refused naming what does change it.
        Holding the environment's lock throughout serialises concurrent `up`s of one name."""
        if spec.chargers < 1 and spec.asks_for("chargers"):
            # Locally the chargers are the environment: with none, "Ready" would say nothing.
            raise ConfigError(f"--chargers must be at least 1 on the local runtime, got {spec.chargers}",
                              "a charger-server alone is `envctl server`")  # fmt: skip
        with self._locked(spec.name):
            env_dir = self.env_dir(spec.name)
            exists = (env_dir / "env.json").exists()
            if exists:
                releases.refuse_while_running(spec.name, env_dir, "up")
            if exists and not recreate:  # another --replicas is refused there, pointing at `scale`
                return self._converge(EnvRecord.load(env_dir), spec, progress)
            self.check_replicas(spec.replicas, spec.chargers)
            if exists:
                self._remove(spec.name)
            record = self._new_record(spec)
            env_dir.mkdir(parents=True, exist_ok=True)
            record.save(env_dir)
            version = spec.server_version or "v1"
            return self._bring_up(record, env_dir, spec.ready_timeout_s, progress, [(version, [])] * spec.replicas, True)

    def check_replicas(self, replicas: int, chargers: int) -> None:
        """Bound what `up` and `scale` start: one replica per charger at most, and envs.max_local_replicas."""
        limit = self.config.envs.max_local_replicas
        if replicas > limit:
            raise Refused(
                f"--replicas {replicas} is more than envs.max_local_replicas ({limit}): each replica is a process "
                "on this machine",
                f"ask for at most {limit}, or raise envs.max_local_replicas in envctl.yaml",
            )
        if replicas > max(chargers, 1):
            raise Refused(f"--replicas {replicas} is more than the environment's {chargers} chargers",
                          f"at most {max(chargers, 1)}: a replica beyond that has no charger to serve")  # fmt: skip

    def _converge(self, record: EnvRecord, spec: EnvSpec, progress: Progress) -> EnvStatus:
        refuse_differences(spec.name, differences(spec, self._running_spec(record)))
        dead = [r for r in record.replicas if not r.alive]
        starts = [(r.version, list(r.extra_args)) for r in dead]
        missing = self._wanted_replicas(record) - len(record.replicas)  # an `up` that died part-way
        starts += [(self._version(record), [])] * max(missing, 0)
        sim_dead = record.simulator is None or not record.simulator.process.alive
        return self._bring_up(record, self.env_dir(spec.name), spec.ready_timeout_s, progress, starts, sim_dead,
                              replacing=[r.id for r in dead])  # fmt: skip

    def _bring_up(
        self, record: EnvRecord, env_dir: Path, timeout_s: float, progress: Progress,
        starts: list[tuple[str, list[str]]], simulator: bool, replacing: list[str] | None = None,
    ) -> EnvStatus:  # fmt: skip
        """Start these replicas (and the simulator), then wait for every charger; the replicas in
        `replacing` (dead) leave the record once their replacements are recorded, and also when
        a replacement failed: it is recorded (dead) in their place, for the next `up` to replace."""
        chargers = int(record.spec.get("chargers", 0))  # type: ignore[call-overload]
        total = len(starts) + int(simulator) + chargers
        gone = set(replacing or [])
        try:
            try:
                for i, (version, extra_args) in enumerate(starts):
                    progress(f"starting charger-server replica {i + 1}/{len(starts)}", i, total)
                    launch.start_replica(record, env_dir, version, extra_args)
            finally:
                if gone:
                    record.replicas = [r for r in record.replicas if r.id not in gone]
                    record.save(env_dir)
            if simulator:
                progress("starting simulator", len(starts), total)
                launch.start_simulator(record, env_dir)
            launch.wait_connected(record, env_dir, timeout_s, progress, len(starts) + int(simulator), total)
        except BaseException as err:
            record.phase, record.message = "Failed", str(err)
            record.save(env_dir)
            raise
        record.phase, record.message = "Ready", None
        record.save(env_dir)
        return self._status(record)

    def _running_spec(self, record: EnvRecord) -> dict[str, Any]:
        """What the environment has, in EnvSpec's terms, for comparing with a request."""
        spec = record.spec
        running = {k: spec.get(k) for k in ("chargers", "ttl", "pr", "database_url", "reconnect", "session_rate",
                                            "session_minutes", "meter_interval", "heartbeat_interval")}  # fmt: skip
        running["replicas"] = self._wanted_replicas(record)
        running["server_version"] = self._version(record)
        return running

    def _wanted_replicas(self, record: EnvRecord) -> int:
        """Replicas the environment should have: those recorded (dead ones stay recorded until
        replaced; `scale` and releases add and remove records), or the spec's if `up` never finished."""
        asked = int(record.spec.get("replicas", 1))  # type: ignore[call-overload]
        return len(record.replicas) if record.phase == "Ready" else max(len(record.replicas), asked)

    def _version(self, record: EnvRecord) -> str:
        versions = sorted({r.version for r in record.replicas})
        if len(versions) == 1:
            return versions[0]
        return ",".join(versions) if versions else str(record.spec.get("server_version") or "v1")

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

    def down(self, name: str, force: bool = False, actor: str = "envctl") -> bool:
        """Remove the environment. A release in progress is never cut short silently: refused, or
        with force aborted first (its rollback waited for). Its release history is kept."""
        env_dir = self.env_dir(name)
        # Not under the environment's lock: the aborting orchestrator needs it to retire replicas.
        aborted = releases.abort_and_wait(name, env_dir, actor) if force else []
        with self._locked(name):
            releases.refuse_while_running(name, env_dir, "down", f"`envctl down {name} --force` aborts it first",
                                          ignore=aborted)  # fmt: skip
            return self._remove(name)

    def extend(self, name: str, by: timedelta) -> datetime:
        self._load(name)  # NotFound before anything is created for a name that does not exist
        with self._locked(name):
            record = self._load(name)
            record.expires_at = extended(record.expires_at, by, utcnow(), self.config.envs.max_ttl)
            record.save(self.env_dir(name))
            return record.expires_at

    def logs(self, name: str, component: str = "server", tail: int = 100) -> dict[str, str]:
        """Log file -> its last `tail` lines, for the server replicas or the simulator."""
        record = self._load(name)
        if component == "server":
            files = [(f"server-{r.id}", Path(r.log)) for r in record.replicas]
        elif component == "simulator":
            files = [("simulator", Path(record.simulator.log))] if record.simulator else []
        else:
            raise NotFound(f"a local environment has no {component} process",
                           f"its database is {record.database_url}; components: server, simulator")
        # Every replica that ever ran left a log, retired and crashed ones too: those say most.
        known = {path for _label, path in files}
        logs_dir = self.env_dir(name) / "logs"
        prefix = "server-" if component == "server" else "simulator"
        files += [(p.stem, p) for p in sorted(logs_dir.glob(f"{prefix}*.log")) if p not in known]
        if not files:
            raise NotFound(f"environment {name!r} has no {component} logs yet", f"see `envctl status {name}`")
        return {label: processes.tail(path, tail) + "\n" for label, path in files}

    # -- server replicas, for the release engine -------------------------------------------

    def env_dir(self, name: str) -> Path:
        return self.envs_dir / validate_name(name)

    def server_replicas(self, name: str) -> list[ReplicaRecord]:
        return list(self._load(name).replicas)

    def admin_token(self, name: str) -> str | None:
        return self._load(name).admin_token

    def admin_access(self, name: str) -> tuple[str, str | None]:
        """(admin URL, token) of the environment: any live replica's admin API serves the whole fleet."""
        record = self._load(name)
        url = _admin_endpoint(record)
        if url is None:
            raise EnvctlError(f"no charger-server replica of {name!r} is running",
                              f"see `envctl status {name}`; `envctl up {name}` starts it again")
        return url, record.admin_token

    def start_server_replica(self, name: str, version: str, extra_args: list[str] | None = None) -> ReplicaRecord:
        with self._locked(name):
            record = self._load(name)
            return launch.start_replica(record, self.env_dir(name), version, list(extra_args or []))

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
        """One mutation of an environment at a time, across processes.

        The lock file goes when no environment is left to guard (no litter after `down` or a
        name that never existed); it is removed while held, so a waiter that then gets the
        unlinked file sees that it is no longer the one at the path and takes the new one."""
        path = self.envs_dir / f".{validate_name(name)}.lock"
        while True:
            self.envs_dir.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a")  # noqa: SIM115 - held past this loop, closed in the finally below
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            fh.close()
        try:
            yield
        finally:
            if not (self.env_dir(name) / "env.json").exists():
                path.unlink(missing_ok=True)
            fh.close()

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
        spec_data.pop("requested", None)
        return EnvRecord(
            name=spec.name,
            spec=spec_data,
            created_at=now,
            expires_at=expiry(now, spec.ttl, self.config.envs.max_ttl),
            ocpp_port=_free_port(),
            database_url=spec.database_url or f"sqlite:///{env_dir / 'charger.db'}",
            admin_token=secrets.token_urlsafe(32),
        )

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
        connected = int(sim_status(record).get("connected", 0)) if sim_alive else 0
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
        admin = _admin_endpoint(record)
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
        releases.archive(name, env_dir, self.root)
        shutil.rmtree(env_dir, ignore_errors=True)
        return True


def _admin_endpoint(record: EnvRecord) -> str | None:
    """The admin URL `status` shows: the first live replica's (each one serves the whole fleet)."""
    live = [r.admin_url for r in record.replicas if r.admin_url and r.alive]
    return live[0] if live else next((r.admin_url for r in record.replicas if r.admin_url), None)
