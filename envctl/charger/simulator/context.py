"""What every charger of one worker shares: config, counters, ledger, randomness, message ids."""

from __future__ import annotations

import asyncio
import base64
import logging
import random

from envctl.charger.protocol.frames import MessageIds
from envctl.charger.simulator import configuration_keys
from envctl.charger.simulator.ledger import LedgerWriter
from envctl.charger.simulator.settings import SimConfig
from envctl.charger.simulator.stats import WorkerStats

# websockets logs every failed handshake at INFO/ERROR; a reconnect storm would flood stderr.
_quiet = logging.getLogger("envctl.sim.ws")
_quiet.setLevel(logging.CRITICAL)
_quiet.propagate = False


class Context:
    def __init__(self, cfg: SimConfig, stats: WorkerStats, ledger: LedgerWriter, worker: int = 0) -> None:
        self.cfg = cfg
        self.stats = stats
        self.ledger = ledger
        self.rng: random.Random = cfg.rng(worker)
        self.ids = MessageIds()
        self.config_defaults = configuration_keys.defaults(cfg)
        self.stopping = False
        self.logger = _quiet
        # Gate for the first connect of each charger when no --connect-rate paces the ramp:
        # a bounded number of handshakes in flight keeps the server's accept backlog from overflowing.
        self.initial_gate: asyncio.Semaphore | None = None

    def auth_header(self, charger_id: str) -> list[tuple[str, str]] | None:
        if self.cfg.basic_auth_password is None:
            return None
        token = base64.b64encode(f"{charger_id}:{self.cfg.basic_auth_password}".encode()).decode()
        return [("Authorization", f"Basic {token}")]
