"""How many environments may exist, overall and per owner (envs.max_environments, envs.max_per_owner)."""

from __future__ import annotations

from collections.abc import Iterable

from envctl.errors import Refused


def check_limits(
    owners: Iterable[str | None], owner: str, max_total: int, max_per_owner: int
) -> None:
    """`owners` has one entry per existing environment (not counting the one being created)."""
    existing = list(owners)
    if len(existing) >= max_total:
        raise Refused(
            f"limit reached: {len(existing)} environments exist and envs.max_environments is {max_total}",
            "remove one you no longer need (`envctl list`, `envctl down NAME`), run `envctl gc`, "
            "or raise envs.max_environments in envctl.yaml",
        )
    mine = sum(1 for o in existing if o == owner)
    if mine >= max_per_owner:
        raise Refused(
            f"limit reached: {owner} already has {mine} environments and envs.max_per_owner is "
            f"{max_per_owner}",
            "remove one of yours (`envctl list`, `envctl down NAME`) or raise envs.max_per_owner "
            "in envctl.yaml",
        )
