"""Help screens show no value type for flags.

typer (0.29) renders its rich help table from `display_type_rich()`, which gives every option
its Python type, flags included: `--help <bool>`, `--keep --no-keep <bool>`, as if they took a
value. typer's own plain-text help skips the type for flags and counters (`get_help_record`:
`if not self.is_flag and not self.count`); this applies the same rule to the rich table.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_display_type_rich = TyperOption.display_type_rich


def _without_flag_types(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    return _display_type_rich(self, ctx)


def install() -> None:
    TyperOption.display_type_rich = _without_flag_types  # type: ignore[method-assign]
