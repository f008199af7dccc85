"""The comment parser is pure, so it carries the heaviest tests (atlantis habit)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from envctl.github.comment_parser import Command, Ignore, Reply, code, parse_comment


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/preview up", Command("up")),
        ("/preview up --chargers 3", Command("up", chargers=3)),
        ("/preview up --chargers=5 --ttl=2h", Command("up", chargers=5, ttl=timedelta(hours=2))),
        ("/preview up --ttl 4h --chargers 2", Command("up", chargers=2, ttl=timedelta(hours=4))),
        ("/preview up --ttl 1d12h", Command("up", ttl=timedelta(days=1, hours=12))),
        ("/preview down", Command("down")),
        ("/preview status", Command("status")),
        ("/preview extend 4h", Command("extend", ttl=timedelta(hours=4))),
        ("/preview extend 30m", Command("extend", ttl=timedelta(minutes=30))),
        ("/help", Command("help")),
        ("/preview", Command("help")),
        ("/preview help", Command("help")),
        ("  /preview up  \n", Command("up")),
        ("/PREVIEW UP", Command("up")),
        ("/preview up\nplease, I need it for the demo", Command("up")),
        ("/preview\tstatus", Command("status")),
    ],
)
def test_valid_commands(body: str, expected: Command) -> None:
    assert parse_comment(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n  ",
        "LGTM",
        "please run /preview up",  # not at the start of the line
        "/previewup",
        "/previews up",
        "> /preview up",  # a quote of someone else's command
        "```\n/preview up\n```",
        "/helpme",
        "thanks!\n/preview up",  # only the first line counts
    ],
)
def test_comments_not_for_us_are_ignored(body: str) -> None:
    assert isinstance(parse_comment(body), Ignore)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("/preview launch", "unknown command `/preview launch`"),
        ("/preview up --chargers", "`--chargers` needs a value"),
        ("/preview up --chargers lots", "must be a whole number, got `lots`"),
        ("/preview up --chargers -3", "must be a whole number"),
        ("/preview up --chargers 0", "between 1 and 50, got 0"),
        ("/preview up --chargers 51", "between 1 and 50, got 51"),
        ("/preview up --chargers 2 --chargers 3", "`--chargers` is given twice"),
        ("/preview up --replicas 2", "unknown option `--replicas`"),
        ("/preview up now", "unexpected argument `now`"),
        ("/preview up --ttl forever", "`--ttl` `forever` is not a duration"),
        ("/preview up --ttl 0h", "must be longer than zero"),
        ("/preview up --ttl 4d", "longer than the limit of 3d"),
        ("/preview down now", "`/preview down` takes no arguments, got `now`"),
        ("/preview status --verbose", "`/preview status` takes no arguments"),
        ("/preview extend", "takes one duration"),
        ("/preview extend 4h 2h", "takes one duration"),
        ("/preview extend soon", "the extension `soon` is not a duration"),
        ("/preview extend 10d", "longer than the limit"),
    ],
)
def test_wrong_commands_get_a_helpful_reply(body: str, says: str) -> None:
    parsed = parse_comment(body)
    assert isinstance(parsed, Reply), parsed
    assert says in parsed.message


def test_unknown_command_reply_lists_what_would_work() -> None:
    parsed = parse_comment("/preview destroy")
    assert isinstance(parsed, Reply)
    for usage in ("/preview up", "/preview down", "/preview status", "/preview extend 4h", "/help"):
        assert usage in parsed.message


def test_limits_are_configurable() -> None:
    assert parse_comment("/preview up --chargers 5", max_chargers=4) == Reply(
        "`--chargers` must be between 1 and 4, got 5."
    )
    assert parse_comment("/preview up --ttl 2h", max_ttl=timedelta(hours=1)) == Reply(
        "`--ttl` `2h` is longer than the limit of 1h."
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "/preview up `; rm -rf /`",
        "/preview up --chargers $(reboot)",
        "/preview up --ttl ```\n# injected heading",
        "/preview deploy <script>alert(1)</script>" + "x" * 500,
        "/preview up --chargers 3;shutdown",
    ],
)
def test_hostile_text_is_refused_and_echoed_harmlessly(hostile: str) -> None:
    parsed = parse_comment(hostile)
    assert isinstance(parsed, Reply)
    # echoed user text sits in one inline code span: no backtick can close it, no newline, bounded
    for span in parsed.message.split("`")[1::2]:
        assert "\n" not in span and len(span) <= 40
    assert parsed.message.count("`") % 2 == 0


def test_code_quotes_user_text_safely() -> None:
    assert code("a`b") == "`ab`"
    assert code("x" * 100) == "`" + "x" * 39 + "…`"
    assert code("line\nbreak") == "`linebreak`"
    assert code("``") == "``"


def test_only_typed_values_leave_the_parser() -> None:
    parsed = parse_comment("/preview up --chargers 4 --ttl 90m")
    assert isinstance(parsed, Command)
    assert isinstance(parsed.chargers, int) and isinstance(parsed.ttl, timedelta)
    assert parsed.ttl == timedelta(minutes=90)
