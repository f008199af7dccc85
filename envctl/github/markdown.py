"""Every comment body envctl posts, as pure functions of plain data (atlantis markdown_renderer habit).

The sticky comment starts with MARKER so it can be found again and edited in place; replies carry
a reply-to marker naming the comment they answer, so a retried job can tell it already answered.
Bodies go through `truncate` so they always fit GitHub's 65,536-character limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from envctl.github.comment_parser import USAGE

MARKER = "<!-- envctl:preview -->"
REPLY_MARKER = "<!-- envctl:reply-to:{id} -->"
GITHUB_LIMIT = 65_536
MESSAGE_LIMIT = 20_000  # a long error keeps its end (where the cause usually is) and the rest of the comment
TRUNCATED = "\n\n…(truncated: the full text was longer than a GitHub comment allows)"

State = Literal["starting", "ready", "degraded", "failed", "stopped", "stale", "missing"]

_HEADLINES: dict[str, str] = {
    "starting": "🟡 Preview `{env}` is starting",
    "ready": "🟢 Preview `{env}` is ready",
    "degraded": "🟠 Preview `{env}` is degraded",
    "failed": "🔴 Preview `{env}` failed",
    "stopped": "⚪ Preview `{env}` was torn down",
    "stale": "🟠 Preview `{env}` is behind the pull request",
    "missing": "⚪ No preview for this pull request",
}

COMMAND_HELP: tuple[tuple[str, str], ...] = (
    (USAGE[0], "create or redeploy the preview at the PR's head commit"),
    (USAGE[1], "tear the preview down"),
    (USAGE[2], "refresh this comment"),
    (USAGE[3], "push the expiry out by 4 hours"),
    (USAGE[4], "show these commands"),
)


@dataclass(frozen=True)
class PreviewView:
    pr: int
    env: str
    state: State
    now: datetime
    sha: str | None = None
    requested_by: str | None = None
    status: dict[str, Any] | None = None  # EnvStatus.to_dict()
    message: str | None = None
    environment_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def fenced(text: str) -> str:
    """A code block no backtick run inside `text` can close early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def inline(text: str) -> str:
    """Inline code for values we did not write (names, URLs, SHAs): no backticks, one line."""
    clean = " ".join(str(text).replace("`", "'").split())
    return f"`{clean}`"


def user(login: str) -> str:
    return "@" + re.sub(r"[^A-Za-z0-9-\[\]]", "", login)


def remaining(until: datetime, now: datetime) -> str:
    left = until - now
    if left <= timedelta(0):
        return "expired"
    minutes = int(left.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    text = (f"{days}d " if days else "") + (f"{hours}h " if hours or days else "") + f"{minutes}m"
    return "in " + text


def commands_table() -> str:
    rows = "\n".join(f"| {cmd} | {what} |" for cmd, what in COMMAND_HELP)
    return "| Command | What it does |\n|---|---|\n" + rows


def _status_rows(view: PreviewView) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    st = view.status or {}
    if st.get("phase"):
        rows.append(("Phase", str(st["phase"])))
    if view.sha:
        rows.append(("Commit", inline(view.sha[:12])))
    if view.environment_url:
        rows.append(("URL", view.environment_url))
    for name, url in sorted((st.get("endpoints") or {}).items()):
        rows.append((f"Endpoint ({name})", inline(url)))
    chargers = st.get("chargers")
    if chargers:
        rows.append(("Chargers", f"{chargers.get('connected', 0)}/{chargers.get('target', 0)} connected"))
    servers = st.get("servers") or []
    if servers:
        ready = sum(1 for s in servers if s.get("ready"))
        rows.append(("Servers", f"{ready}/{len(servers)} ready"))
    if st.get("runtime"):
        rows.append(("Runtime", str(st["runtime"])))
    expires = st.get("expires_at")
    if expires:
        at = datetime.fromisoformat(expires)
        rows.append(("Expires", f"{at.strftime('%Y-%m-%d %H:%M UTC')} ({remaining(at, view.now)})"))
    if view.requested_by:
        rows.append(("Requested by", user(view.requested_by)))
    return rows


def render_preview(view: PreviewView) -> str:
    parts = [MARKER, f"### {_HEADLINES[view.state].format(env=view.env.replace('`', ''))}"]
    rows = _status_rows(view)
    if rows:
        parts.append("| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows))
    if view.message:
        parts.append(fenced(_tail(view.message, MESSAGE_LIMIT)))
    parts.extend(view.notes)
    parts.append(f"<details><summary>Commands</summary>\n\n{commands_table()}\n\n</details>")
    parts.append(f"<sub>Updated {view.now.strftime('%Y-%m-%d %H:%M:%S UTC')} by envctl.</sub>")
    return truncate("\n\n".join(parts))


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return "…(earlier output cut)\n" + text[-limit:]


def render_reply(comment_id: int, login: str, text: str) -> str:
    return truncate(f"{REPLY_MARKER.format(id=comment_id)}\n{user(login)} {text}")


def render_help(comment_id: int, login: str) -> str:
    return render_reply(comment_id, login, "here is what envctl understands:\n\n" + commands_table())


def render_refusal(comment_id: int, login: str, permission: str) -> str:
    return render_reply(
        comment_id,
        login,
        "thanks for trying! Only collaborators with write, maintain or admin permission can run "
        f"`/preview` commands on this repository (yours: {inline(permission)}). "
        "Ask a maintainer to run it for you.",
    )


def render_parse_error(comment_id: int, login: str, message: str) -> str:
    return render_reply(comment_id, login, f"I could not run that: {message}\n\n{commands_table()}")


def render_failure(comment_id: int, login: str, message: str, hint: str | None = None) -> str:
    body = "that did not work:\n\n" + fenced(message)
    if hint:
        body += f"\n\nHint: {hint}"
    return render_reply(comment_id, login, body)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def truncate(body: str, limit: int = GITHUB_LIMIT) -> str:
    """Cut to fit `limit` (counted in UTF-16 units, the strictest reading), closing an open fence.

    The cut lands on a line boundary when one is near, never inside the leading marker.
    """
    if _utf16_len(body) <= limit:
        return body
    budget = limit - _utf16_len(TRUNCATED) - 16  # room for a closing fence
    cut = body[:budget]
    while _utf16_len(cut) > budget:
        cut = cut[: len(cut) - (_utf16_len(cut) - budget)]
    newline = cut.rfind("\n")
    if newline > budget // 2:
        cut = cut[:newline]
    fence = _open_fence(cut)
    if fence:
        cut += "\n" + fence
    return cut + TRUNCATED


def _open_fence(text: str) -> str | None:
    """The fence of a code block still open at the end of `text` (CommonMark: a closing fence is at
    least as long as the opening one and has nothing after it)."""
    open_fence: str | None = None
    for line in text.split("\n"):
        run = re.match(r"^ {0,3}(`{3,})", line)
        if not run:
            continue
        ticks = run.group(1)
        if open_fence is None:
            open_fence = ticks
        elif len(ticks) >= len(open_fence) and not line.strip().strip("`"):
            open_fence = None
    return open_fence
