"""A PR comment -> Command, Reply or Ignore. Pure: no I/O, no GitHub, no shell.

Only the first line counts, so people can explain themselves below it:

    /preview up [--chargers N] [--ttl 4h]
    /preview down
    /preview status
    /preview extend 4h
    /plan [project]      /apply [project]      /unlock [project]      (Terraform, when enabled)
    /help

Anything else starting with `/preview` gets a Reply that says what was wrong and what would work;
comments that are not for us are ignored. The parsed values are typed (int, timedelta) and are the
only thing that leaves this module: comment text never reaches a shell or a runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from envctl.envs.model import parse_duration
from envctl.errors import ConfigError

CommandName = Literal["up", "down", "status", "extend", "help"]

USAGE = (
    "`/preview up [--chargers N] [--ttl 4h]`",
    "`/preview down`",
    "`/preview status`",
    "`/preview extend 4h`",
    "`/help`",
)


@dataclass(frozen=True)
class Command:
    name: CommandName
    chargers: int | None = None
    ttl: timedelta | None = None


TfCommandName = Literal["plan", "apply", "unlock"]
TF_USAGE = ("`/plan [project]`", "`/apply [project]`", "`/unlock [project]`")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


@dataclass(frozen=True)
class TfCommand:
    """A Terraform command; `project` is only a name, matched later against the configured list."""

    name: TfCommandName
    project: str | None = None


@dataclass(frozen=True)
class Reply:
    """The comment was meant for us but is wrong; `message` is markdown, safe to post."""

    message: str


@dataclass(frozen=True)
class Ignore:
    reason: str


Parsed = Command | TfCommand | Reply | Ignore

MAX_ECHO = 40


def code(text: str) -> str:
    """User text quoted inline: no backticks, no newlines, bounded length, so it cannot break out."""
    clean = "".join(ch for ch in text if ch.isprintable() and ch != "`")
    if len(clean) > MAX_ECHO:
        clean = clean[: MAX_ECHO - 1] + "…"
    return f"`{clean}`" if clean else "``"


def usage_line() -> str:
    return ", ".join(USAGE)


def _ttl(text: str, cap: timedelta, what: str) -> timedelta | Reply:
    try:
        value = parse_duration(text)
    except ConfigError:
        return Reply(f"{what} {code(text)} is not a duration. Write it like `4h`, `30m` or `1d12h`.")
    if value <= timedelta(0):
        return Reply(f"{what} must be longer than zero, got {code(text)}.")
    if value > cap:
        return Reply(f"{what} {code(text)} is longer than the limit of {_human(cap)}.")
    return value


def _human(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return "".join(parts) or f"{total}s"


def _flags(tokens: list[str]) -> dict[str, str] | Reply:
    """`--name value` and `--name=value` pairs; anything else is an error."""
    found: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            return Reply(f"unexpected argument {code(token)}. Usage: `/preview up [--chargers N] [--ttl 4h]`.")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                return Reply(f"{code('--' + name)} needs a value.")
            value = tokens[i + 1]
            i += 1
        if name not in ("chargers", "ttl"):
            return Reply(f"unknown option {code('--' + name)}. `/preview up` takes `--chargers N` and `--ttl 4h`.")
        if name in found:
            return Reply(f"{code('--' + name)} is given twice.")
        found[name] = value
        i += 1
    return found


def _up(args: list[str], max_chargers: int, max_ttl: timedelta) -> Parsed:
    flags = _flags(args)
    if isinstance(flags, Reply):
        return flags
    chargers: int | None = None
    if "chargers" in flags:
        raw = flags["chargers"]
        if not raw.isdigit():
            return Reply(f"`--chargers` must be a whole number, got {code(raw)}.")
        chargers = int(raw)
        if not 1 <= chargers <= max_chargers:
            return Reply(f"`--chargers` must be between 1 and {max_chargers}, got {chargers}.")
    ttl: timedelta | None = None
    if "ttl" in flags:
        parsed = _ttl(flags["ttl"], max_ttl, "`--ttl`")
        if isinstance(parsed, Reply):
            return parsed
        ttl = parsed
    return Command("up", chargers=chargers, ttl=ttl)


def _terraform(verb: TfCommandName, args: list[str]) -> Parsed:
    options = [a for a in args if a.startswith("-")]
    if options:
        return Reply(f"`/{verb}` takes no options, got {code(options[0])}. Usage: `/{verb} [project]`.")
    if len(args) > 1:
        return Reply(f"`/{verb}` takes at most one project name, got {code(' '.join(args))}. "
                     f"Usage: `/{verb} [project]`.")
    if not args:
        return TfCommand(verb)
    name = args[0]
    if not _PROJECT.fullmatch(name) or ".." in name.split("/"):
        return Reply(f"{code(name)} is not a project name (letters, digits, `.`, `_`, `-` and `/`).")
    return TfCommand(verb, name)


def parse_comment(body: str, *, max_chargers: int = 50, max_ttl: timedelta = timedelta(days=3)) -> Parsed:
    lines = [line.strip() for line in (body or "").strip().splitlines()]
    first = lines[0] if lines else ""
    tokens = first.split()
    if not tokens:
        return Ignore("empty comment")
    head = tokens[0].lower()
    if head == "/help":
        return Command("help")
    if head in ("/plan", "/apply", "/unlock"):
        return _terraform(head[1:], tokens[1:])  # type: ignore[arg-type]
    if head != "/preview":
        return Ignore("not a /preview command")
    if len(tokens) == 1:
        return Command("help")
    verb, args = tokens[1].lower(), tokens[2:]
    if verb == "up":
        return _up(args, max_chargers, max_ttl)
    if verb in ("down", "status", "help"):
        if args:
            return Reply(f"`/preview {verb}` takes no arguments, got {code(' '.join(args))}.")
        return Command(verb)  # type: ignore[arg-type]
    if verb == "extend":
        if len(args) != 1:
            return Reply("`/preview extend` takes one duration, like `/preview extend 4h`.")
        ttl = _ttl(args[0], max_ttl, "the extension")
        return ttl if isinstance(ttl, Reply) else Command("extend", ttl=ttl)
    return Reply(f"unknown command {code('/preview ' + tokens[1])}. Try one of: {usage_line()}.")
