"""A pod's CPU and memory requests as numbers, written the way Kubernetes reads them."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class ResourceRequests:
    cpu_millicores: int
    memory_bytes: int

    @property
    def cpu(self) -> str:
        return f"{self.cpu_millicores}m"

    @property
    def memory(self) -> str:
        """Rounded up to whole MiB: a request is a floor, never shaved."""
        return f"{math.ceil(self.memory_bytes / MIB)}Mi"
