"""Every body envctl posts is a pure function of data: rendered and checked here, no GitHub needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from envctl.github import markdown
from envctl.github.markdown import MARKER, PreviewView, render_preview, truncate

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)


def status(**over: Any) -> dict[str, Any]:
    base = {
        "name": "pr-7", "runtime": "local", "phase": "Ready",
        "chargers": {"target": 3, "connected": 3},
        "servers": [{"id": "r0", "version": "v1", "ready": True, "connections": 3}],
        "endpoints": {"ocpp": "ws://127.0.0.1:4000/ocpp", "admin": "http://127.0.0.1:4001"},
        "expires_at": (NOW + timedelta(hours=3, minutes=59)).isoformat(),
    }  # fmt: skip
    base.update(over)
    return base


def view(state: str = "ready", **over: Any) -> PreviewView:
    kw: dict[str, Any] = {"pr": 7, "env": "pr-7", "state": state, "now": NOW, "sha": "0123456789abcdef0123",
                          "requested_by": "alice", "status": status(), "environment_url": "http://127.0.0.1:4001"}
    kw.update(over)
    return PreviewView(**kw)


def test_sticky_comment_starts_with_the_marker() -> None:
    for state in ("starting", "ready", "degraded", "failed", "stopped", "stale", "missing"):
        assert render_preview(view(state)).startswith(MARKER + "\n")  # type: ignore[arg-type]


def test_ready_comment_shows_what_a_reviewer_needs() -> None:
    body = render_preview(view())
    assert "### 🟢 Preview `pr-7` is ready" in body
    assert "| Chargers | 3/3 connected |" in body
    assert "| URL | http://127.0.0.1:4001 |" in body
    assert "| Endpoint (ocpp) | `ws://127.0.0.1:4000/ocpp` |" in body
    assert "| Commit | `0123456789ab` |" in body
    assert "| Expires | 2026-11-28 13:59 UTC (in 3h 59m) |" in body
    assert "| Requested by | @alice |" in body
    assert "| Servers | 1/1 ready |" in body
    for command in ("/preview up", "/preview down", "/preview status", "/preview extend 4h", "/help"):
        assert command in body


@pytest.mark.parametrize(
    ("state", "headline"),
    [
        ("starting", "🟡 Preview `pr-7` is starting"),
        ("failed", "🔴 Preview `pr-7` failed"),
        ("stopped", "⚪ Preview `pr-7` was torn down"),
        ("stale", "🟠 Preview `pr-7` is behind the pull request"),
        ("degraded", "🟠 Preview `pr-7` is degraded"),
        ("missing", "No preview for this pull request"),
    ],
)
def test_headline_per_state(state: str, headline: str) -> None:
    assert headline in render_preview(view(state))  # type: ignore[arg-type]


def test_starting_comment_without_status_has_no_empty_rows() -> None:
    body = render_preview(view("starting", status=None, environment_url=None))
    assert "Chargers" not in body and "Expires" not in body and "URL" not in body
    assert "| Commit | `0123456789ab` |" in body


def test_expired_and_far_expiry() -> None:
    past = render_preview(view(status=status(expires_at=(NOW - timedelta(minutes=1)).isoformat())))
    assert "(expired)" in past
    later = render_preview(view(status=status(expires_at=(NOW + timedelta(days=1, hours=2, minutes=5)).isoformat())))
    assert "(in 1d 2h 5m)" in later


def test_failure_message_is_fenced_even_with_backticks() -> None:
    message = "boom ``` \n# not a heading\n````"
    body = render_preview(view("failed", message=message))
    fence = "`````"  # longer than the longest run inside the message
    assert f"{fence}\n{message}\n{fence}" in body


def test_values_we_did_not_write_cannot_break_the_table() -> None:
    body = render_preview(view(status=status(endpoints={"ocpp": "ws://x`|y\nz"})))
    assert "| Endpoint (ocpp) | `ws://x'|y z` |" in body


def test_user_mentions_are_sanitised() -> None:
    assert markdown.user("alice") == "@alice"
    assert markdown.user("dependabot[bot]") == "@dependabot[bot]"
    assert markdown.user("eve <b>") == "@eveb"


def test_reply_carries_reply_to_marker_and_mention() -> None:
    body = markdown.render_help(42, "bob")
    assert body.startswith("<!-- envctl:reply-to:42 -->\n@bob ")
    assert "/preview extend 4h" in body


def test_refusal_is_polite_and_says_why() -> None:
    body = markdown.render_refusal(9, "mallory", "read")
    assert "@mallory thanks for trying!" in body
    assert "write, maintain or admin" in body and "`read`" in body


def test_parse_error_reply_includes_commands() -> None:
    body = markdown.render_parse_error(9, "bob", "unknown command `/preview x`.")
    assert "I could not run that: unknown command `/preview x`." in body
    assert "| `/preview down` | tear the preview down |" in body


def test_failure_reply_has_hint() -> None:
    body = markdown.render_failure(1, "bob", "no preview", "run /preview up")
    assert "```\nno preview\n```" in body and "Hint: run /preview up" in body


# --- truncation ---------------------------------------------------------------------------------


def test_short_bodies_are_untouched() -> None:
    assert truncate("hello") == "hello"
    exact = "x" * markdown.GITHUB_LIMIT
    assert truncate(exact) == exact


@pytest.mark.parametrize("size", [65_537, 70_000, 200_000, 1_000_000])
def test_long_bodies_fit_and_say_so(size: int) -> None:
    body = MARKER + "\n" + ("line of text\n" * (size // 13 + 1))
    out = truncate(body)
    assert len(out) <= markdown.GITHUB_LIMIT
    assert out.startswith(MARKER)
    assert out.endswith(markdown.TRUNCATED)


def test_cut_inside_a_code_block_closes_it() -> None:
    body = "intro\n" + markdown.fenced("log line\n" * 20_000)
    out = truncate(body)
    assert len(out) <= markdown.GITHUB_LIMIT
    before_notice = out[: -len(markdown.TRUNCATED)]
    assert before_notice.rstrip().endswith("```")
    assert markdown._open_fence(before_notice) is None


def test_cut_counts_wide_characters_strictly() -> None:
    body = "🔥" * 40_000  # 40,000 code points, 80,000 UTF-16 units
    out = truncate(body)
    assert len(out.encode("utf-16-le")) // 2 <= markdown.GITHUB_LIMIT
    assert out.endswith(markdown.TRUNCATED)


def test_huge_failure_message_keeps_its_end_and_the_commands() -> None:
    body = render_preview(view("failed", message="start\n" + "trace\n" * 30_000 + "RootCause: disk full"))
    assert len(body) <= markdown.GITHUB_LIMIT and body.startswith(MARKER)
    assert "RootCause: disk full" in body and "…(earlier output cut)" in body
    assert "/preview extend 4h" in body
    assert markdown._open_fence(body) is None


def test_a_body_over_the_limit_is_cut_and_fenced_blocks_closed() -> None:
    notes = ("```\n" + "x\n" * 40_000,)  # an unclosed block from a note we wrote
    body = render_preview(view("ready", notes=notes))
    assert len(body) <= markdown.GITHUB_LIMIT and body.endswith(markdown.TRUNCATED)
    assert markdown._open_fence(body[: -len(markdown.TRUNCATED)]) is None


def test_open_fence_tracking() -> None:
    assert markdown._open_fence("```\ncode") == "```"
    assert markdown._open_fence("```\ncode\n```") is None
    assert markdown._open_fence("````\n```\nstill code") == "````"
    assert markdown._open_fence("text only") is None
