"""Local processes runtime; see runtime.py."""

from envctl.runtimes.local.record import EnvRecord, ReplicaRecord
from envctl.runtimes.local.runtime import LocalRuntime

__all__ = ["EnvRecord", "LocalRuntime", "ReplicaRecord"]
