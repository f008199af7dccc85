from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from envctl.config import parse_config
from envctl.envs.model import EnvSpec
from envctl.runtimes.kubernetes import render as r

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def make_values() -> Callable[..., r.Values]:
    def make(config: dict[str, Any] | None = None, owner: str = "alice", **spec: Any) -> r.Values:
        spec.setdefault("name", "pr-42")
        return r.values_for(
            EnvSpec(**spec), parse_config(config or {}), owner=owner, created_at=NOW,
            expires_at=NOW + timedelta(hours=8),
            credentials=r.Credentials("tok", "preview", "secret-pw", "pg-pw"),
            subject={"kind": "User", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"},
        )

    return make
