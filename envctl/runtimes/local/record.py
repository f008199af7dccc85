"""env.json: everything `envctl down` needs to clean up, written before each process is started."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from envctl.runtimes.local.processes import ProcessRecord
from envctl.state import read_json, write_json_atomic


class ReplicaRecord(BaseModel):
    id: str
    version: str
    pid: int
    started_at: float
    ocpp_port: int
    admin_port: int | None = None
    log: str
    extra_args: list[str] = Field(default_factory=list)

    @property
    def process(self) -> ProcessRecord:
        return ProcessRecord(self.pid, self.started_at)

    @property
    def alive(self) -> bool:
        return self.process.alive

    @property
    def admin_url(self) -> str | None:
        return f"http://127.0.0.1:{self.admin_port}" if self.admin_port else None


class SimulatorRecord(BaseModel):
    pid: int
    started_at: float
    status_file: str
    ledger_dir: str
    report_file: str
    log: str

    @property
    def process(self) -> ProcessRecord:
        return ProcessRecord(self.pid, self.started_at)


class EnvRecord(BaseModel):
    name: str
    spec: dict[str, object]
    created_at: datetime
    expires_at: datetime
    ocpp_port: int
    database_url: str
    replicas: list[ReplicaRecord] = Field(default_factory=list)
    next_replica: int = 1
    simulator: SimulatorRecord | None = None
    phase: str = "Starting"
    message: str | None = None
    # The environment's admin token: every replica gets it as ENVCTL_ADMIN_TOKEN and envctl's own
    # clients send it. env.json is written 0600 (state.write_json_atomic), like other credentials.
    admin_token: str | None = None

    def save(self, env_dir: Path) -> None:
        write_json_atomic(env_dir / "env.json", self.model_dump(mode="json"))

    @classmethod
    def load(cls, env_dir: Path) -> EnvRecord:
        return cls.model_validate(read_json(env_dir / "env.json"))
