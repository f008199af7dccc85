"""Starting an environment's processes: charger-server replicas on the shared OCPP port, the charger
simulator, and waiting until the chargers are connected. Each start is recorded in env.json before
anything waits on it, so `down` finds it even if the `up` that started it dies."""

from __future__ import annotations

import json
import time
from pathlib import Path

from envctl.errors import EnvctlError, Timeout
from envctl.runtimes.base import Progress
from envctl.runtimes.local import processes
from envctl.runtimes.local.record import EnvRecord, ReplicaRecord, SimulatorRecord
from envctl.state import read_json

CHARGERS_PER_SIM_WORKER = 15_000  # below the 20,000-descriptor cap per process, with headroom
# One source address gives ~28,000 ephemeral ports towards the OCPP port; spreading the chargers
# over several loopback addresses keeps reconnect storms of big fleets clear of EADDRNOTAVAIL.
CHARGERS_PER_SOURCE_ADDRESS = 5_000
REPLICA_READY_S = 60.0


def start_replica(record: EnvRecord, env_dir: Path, version: str, extra_args: list[str]) -> ReplicaRecord:
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
        *_server_args(spec), *extra_args,
    ]  # fmt: skip
    proc = processes.spawn(args, log, env={"ENVCTL_ADMIN_TOKEN": record.admin_token} if record.admin_token else None)
    replica = ReplicaRecord(
        id=replica_id, version=version, pid=proc.pid, started_at=proc.started_at,
        ocpp_port=record.ocpp_port, log=str(log), extra_args=extra_args,
    )  # fmt: skip
    record.replicas.append(replica)
    record.save(env_dir)  # before waiting: `down` must find it even if we die now
    deadline = time.monotonic() + REPLICA_READY_S
    while not ready_file.exists():
        if not proc.alive:
            raise EnvctlError(
                f"charger-server replica {replica_id} ({version}) exited during start-up",
                f"its last log lines:\n{processes.tail(log)}",
            )
        if time.monotonic() > deadline:
            raise Timeout(f"charger-server replica {replica_id} not ready after {REPLICA_READY_S:.0f} s", f"see {log}")
        time.sleep(0.05)
    replica.admin_port = int(read_json(ready_file)["admin_port"])
    record.save(env_dir)
    return replica


def start_simulator(record: EnvRecord, env_dir: Path) -> None:
    """The simulator of the recorded spec (a restart gets the same chargers and options)."""
    spec = record.spec
    chargers = int(spec.get("chargers", 0))  # type: ignore[call-overload]
    status_file, ledger_dir = env_dir / "sim-status.json", env_dir / "ledger"
    report_file, log = env_dir / "sim-report.json", env_dir / "logs" / "simulator.log"
    workers = max(1, -(-chargers // CHARGERS_PER_SIM_WORKER))
    addresses = max(2, -(-chargers // CHARGERS_PER_SOURCE_ADDRESS))
    status_file.unlink(missing_ok=True)  # a dead simulator's last count must not pass for the new one's
    args = [
        "sim", "--url", f"ws://127.0.0.1:{record.ocpp_port}/ocpp", "--chargers", str(chargers),
        "--workers", str(workers), "--reconnect", str(spec.get("reconnect", "immediate")),
        "--session-rate", str(spec.get("session_rate", 0.0)), "--session-minutes", str(spec.get("session_minutes", "30")),
        "--meter-interval", str(spec.get("meter_interval", 60.0)),
        "--status-file", str(status_file), "--ledger-dir", str(ledger_dir), "--report", str(report_file),
        "--source-addresses", f"127.0.0.2-127.0.0.{1 + min(addresses, 250)}", "--no-live", "--duration", "0",
    ]  # fmt: skip
    proc = processes.spawn(args, log)
    record.simulator = SimulatorRecord(
        pid=proc.pid, started_at=proc.started_at, status_file=str(status_file),
        ledger_dir=str(ledger_dir), report_file=str(report_file), log=str(log),
    )  # fmt: skip
    record.save(env_dir)


def wait_connected(record: EnvRecord, env_dir: Path, timeout_s: float, progress: Progress, done: int, total: int) -> None:
    """Until the simulator counts every charger connected; `done` steps of `total` came before."""
    assert record.simulator is not None
    chargers = int(record.spec.get("chargers", 0))  # type: ignore[call-overload]
    deadline = time.monotonic() + timeout_s
    while True:
        connected = int(sim_status(record).get("connected", 0))
        progress(f"chargers connected {connected}/{chargers}", done + connected, total)
        if connected >= chargers:
            return
        if not record.simulator.process.alive:
            raise EnvctlError(
                "the charger simulator exited before every charger connected",
                f"its last log lines:\n{processes.tail(Path(record.simulator.log))}",
            )
        if not any(r.alive for r in record.replicas):
            raise EnvctlError("every charger-server replica exited", f"see `envctl logs {record.name}`")
        if time.monotonic() > deadline:
            raise Timeout(
                f"only {connected} of {chargers} chargers connected after {timeout_s:.0f} s",
                f"see `envctl logs {record.name} --component simulator`; `envctl up {record.name}` tries again "
                f"(keeping what runs), `envctl down {record.name}` cleans up",
            )
        time.sleep(0.2)


def sim_status(record: EnvRecord) -> dict[str, int]:
    if record.simulator is None:
        return {}
    try:
        data = read_json(Path(record.simulator.status_file))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _server_args(spec: dict[str, object]) -> list[str]:
    extra = spec.get("extra")
    args = extra.get("server_args", []) if isinstance(extra, dict) else []
    return [str(a) for a in args] if isinstance(args, list) else []
