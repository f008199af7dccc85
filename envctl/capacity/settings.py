"""envctl.yaml `capacity:` — where the measured profile lives (a field of envctl.config.Config)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class CapacitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # `envctl bench capacity --report` writes it, `envctl capacity` reads it.
    profile: Path = Path("capacity-profile.json")
