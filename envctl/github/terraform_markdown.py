"""Terraform's plan/apply comments and drift issues: pure functions of plain data, split to fit GitHub's
comment limit. The GitHub door renders; envctl/terraform/ only hands it plain data (atlantis
markdown_renderer habit, next to github/markdown.py).

A project's comment is: a marker, a headline with the one-line summary, the resources grouped by
action, and the full plan in a collapsible `<details>` with a `diff` code block. When that is
longer than GitHub's 65,536 characters it becomes several comments, each valid markdown on its
own: a list or code block cut at the end of a part is closed there and reopened at the start of
the next, and every part says "part i of n". Each part starts with a marker naming the kind
(plan/apply), the project and the part, so the poster edits earlier comments in place.

Lengths are counted in UTF-16 code units, the strictest reading of GitHub's limit.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
from dataclasses import dataclass, field

from envctl.github.markdown import GITHUB_LIMIT, inline, truncate
from envctl.terraform.summary import Summary

MARKER = "<!-- envctl:terraform:{kind} project={project} part={part}/{parts} -->"
MARKER_RE = re.compile(r"^<!-- envctl:terraform:(?P<kind>plan|apply) project=(?P<project>\S+) "
                       r"part=(?P<part>\d+)/(?P<parts>\d+) -->")
MAX_LINE = 4_000  # longer lines (a huge JSON value) are wrapped so one line can never overflow a part
ACTION_TITLES = {"create": "Create", "update": "Update in place", "replace": "Replace", "delete": "Delete",
                 "read": "Read", "forget": "Forget (remove from state)"}


def units(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


_DIFF = re.compile(r"^(\s*)(-/\+|\+/-|[-+~])(\s.*|)$")
_DIFF_SIGN = {"+": "+", "-": "-", "~": "!", "-/+": "!", "+/-": "!"}
_LONG = re.compile(r"[^\n]{%d,}" % (MAX_LINE // 2 + 1))


def to_diff(plan_text: str) -> list[str]:
    """Terraform's plan text -> lines GitHub's `diff` highlighting colours (sign moved to column 0)."""
    text = plan_text.strip("\n")
    out: list[str] = []
    append, match_diff = out.append, _DIFF.match
    for line in text.split("\n"):
        if line.lstrip(" ")[:1] in ("+", "-", "~"):  # a cheap test first: most lines are not changes
            match = match_diff(line)
            if match:
                indent, sign, rest = match.groups()
                line = _DIFF_SIGN[sign] + indent + " " * (len(sign) - 1) + rest
        append(line)
    if not _LONG.search(text):  # a code point is at most 2 UTF-16 units: shorter lines always fit
        return out
    wrapped = []
    for line in out:
        while units(line) > MAX_LINE:
            wrapped.append(line[:MAX_LINE // 2])
            line = "  " + line[MAX_LINE // 2:]
        wrapped.append(line)
    return wrapped


def fence_for(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0) if "```" in text else 0
    return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class Section:
    """A run of lines inside a wrapper that must be closed when a part ends and reopened after."""

    lines: tuple[str, ...]
    opener: str = ""
    reopener: str = ""  # opener of the continuation in the next part
    closer: str = ""
    gap: str = "\n"  # text before the section


@dataclass(frozen=True)
class Document:
    kind: str
    project: str
    head: str  # headline, repeated in every part
    sections: tuple[Section, ...]
    foot: str = ""  # only in the last part
    limit: int = GITHUB_LIMIT

    def marker(self, part: int, parts: int) -> str:
        return MARKER.format(kind=self.kind, project=self.project, part=part, parts=parts)


def split(doc: Document) -> list[str]:
    """The document as one or more bodies, each at most doc.limit UTF-16 units and valid markdown."""
    reserve = units(doc.marker(9999, 9999)) + units(" (part 9999 of 9999)") + 2
    budget = doc.limit - reserve - units(doc.head) - 2
    parts: list[list[str]] = [[]]
    used = 0

    def add(text: str) -> None:
        nonlocal used
        parts[-1].append(text)
        used += units(text)

    def new_part() -> None:
        nonlocal used
        parts.append([])
        used = 0

    foot = "\n\n" + doc.foot if doc.foot else ""
    for index, section in enumerate(doc.sections):
        last_section = index == len(doc.sections) - 1
        opener = section.gap + section.opener
        closer = section.closer
        tail = units(foot) if last_section else 0
        if used + units(opener) + units(closer) + 200 > budget and used:
            new_part()
            opener = section.opener
        add(opener)
        # whole runs of lines at a time: prefix sums and bisect find where a part is full
        lines = section.lines
        count = len(lines)
        prefix = list(accumulate((len(x) if x.isascii() else units(x)) + 1 for x in lines))
        closer_units = units(closer)
        start, fresh = 0, False
        while start < count:
            base = prefix[start - 1] if start else 0
            room = budget - used - closer_units
            end = bisect_right(prefix, base + room, lo=start)
            if end == count and prefix[-1] - base > room - tail:
                end = bisect_right(prefix, base + room - tail, lo=start)
            if end == start and fresh:  # cannot happen with lines cut to MAX_LINE; never loop forever
                end = start + 1
            fresh = False
            if end > start:
                parts[-1].append("\n".join(lines[start:end]) + "\n")
                used += prefix[end - 1] - base
                start = end
            if start < count:
                add(closer)
                new_part()
                add(section.reopener or section.opener)
                fresh = True
        add(closer)
    if foot:
        if used + units(foot) > budget:
            new_part()
        add(foot)
    total = len(parts)
    bodies = []
    for number, chunks in enumerate(parts, start=1):
        title = doc.head + (f" (part {number} of {total})" if total > 1 else "")
        bodies.append(f"{doc.marker(number, total)}\n{title}\n" + "".join(chunks).rstrip("\n") + "\n")
    return bodies


@dataclass(frozen=True)
class PlanView:
    project: str
    dir: str
    workspace: str
    summary: Summary | None
    plan_text: str = ""  # already redacted
    error: str | None = None  # already redacted
    sha: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    apply_hint: bool = True


def _where(view: PlanView) -> str:
    where = f"{inline(view.dir)} · workspace {inline(view.workspace)}"
    if view.sha:
        where += f" · commit {inline(view.sha[:12])}"
    return where


def _resource_sections(summary: Summary) -> list[Section]:
    sections = []
    for action, addresses in summary.by_action().items():
        title = ACTION_TITLES.get(action, action)
        sections.append(Section(
            lines=tuple(f"- {inline(a)}" for a in addresses),
            opener=f"**{title}** ({len(addresses)}):\n\n", reopener=f"**{title}** (continued):\n\n",
        ))  # fmt: skip
    if summary.outputs:
        lines = tuple(f"- {inline(o.name)}: {o.action}{' (sensitive)' if o.sensitive else ''}"
                      for o in summary.outputs)
        sections.append(Section(lines=lines, opener="**Outputs**:\n\n", reopener="**Outputs** (continued):\n\n"))
    return sections


def _code_section(title: str, lines: list[str], language: str) -> Section:
    fence = fence_for(lines)
    return Section(
        lines=tuple(lines),
        opener=f"<details><summary>{title}</summary>\n\n{fence}{language}\n",
        reopener=f"<details><summary>{title} (continued)</summary>\n\n{fence}{language}\n",
        closer=f"{fence}\n\n</details>\n",
    )


def render_plan(view: PlanView) -> list[str]:
    """The comment bodies for one project's plan, in posting order."""
    name = view.project.replace("`", "")
    if view.error is not None or view.summary is None:
        head = f"### 🔴 Terraform plan failed: `{name}`"
        sections = [Section(lines=(_where(view),), gap="\n"),
                    _code_section("Error", (view.error or "plan failed").rstrip("\n").split("\n"), "text")]
        foot = "\n".join(view.notes) + ("\n\n" if view.notes else "") + f"Fix it and comment `/plan {name}`."
        return split(Document("plan", view.project, head, tuple(sections), foot))
    summary = view.summary
    icon = "🟡" if summary.has_changes else "🟢"
    head = f"### {icon} Terraform plan: `{name}`"
    intro = f"{_where(view)}\n\n**Plan:** {summary.line()}"
    sections = [Section(lines=(intro,), gap="\n"), *_resource_sections(summary)]
    if view.plan_text:
        sections.append(_code_section("Full plan", to_diff(view.plan_text), "diff"))
    foot_lines = list(view.notes)
    if view.apply_hint and summary.has_changes:
        foot_lines.append(f"To apply this plan, comment `/apply {name}`. To discard it and release the lock, "
                          f"comment `/unlock {name}`.")
    elif not summary.has_changes:
        foot_lines.append("No changes: the infrastructure matches the configuration.")
    return split(Document("plan", view.project, head, tuple(sections), "\n\n".join(foot_lines)))


@dataclass(frozen=True)
class ApplyView:
    project: str
    dir: str
    workspace: str
    ok: bool
    output: str  # already redacted
    sha: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def render_apply(view: ApplyView) -> list[str]:
    name = view.project.replace("`", "")
    head = f"### {'✅ Applied' if view.ok else '🔴 Apply failed'}: `{name}`"
    where = _where(PlanView(view.project, view.dir, view.workspace, None, sha=view.sha))
    sections = [Section(lines=(where,), gap="\n"),
                _code_section("Apply output" if view.ok else "Error", view.output.rstrip("\n").split("\n") or [""],
                              "text")]
    return split(Document("apply", view.project, head, tuple(sections), "\n\n".join(view.notes)))


DRIFT_MARKER = "<!-- envctl:terraform:drift project={project} -->"


@dataclass(frozen=True)
class DriftView:
    project: str
    dir: str
    workspace: str
    changed_outside: tuple[str, ...]
    pending: dict[str, list[str]]
    plan_text: str = ""  # redacted
    checked_at: str = ""


def drift_title(project: str) -> str:
    return f"Terraform drift: {project.replace('`', '')}"


def render_drift(view: DriftView) -> str:
    """The body of the drift issue of one project (one issue per project, edited in place)."""
    parts = [DRIFT_MARKER.format(project=view.project),
             f"### 🟠 `{view.project.replace('`', '')}` has drifted from the default branch",
             f"{inline(view.dir)} · workspace {inline(view.workspace)}" +
             (f" · checked {view.checked_at}" if view.checked_at else "")]
    if view.changed_outside:
        parts.append("**Changed outside Terraform** (found by `plan -refresh-only`):\n\n" +
                     "\n".join(f"- {inline(a)}" for a in view.changed_outside))
    for action, addresses in view.pending.items():
        parts.append(f"**A plan of the default branch would {ACTION_TITLES.get(action, action).lower()}** "
                     f"({len(addresses)}):\n\n" + "\n".join(f"- {inline(a)}" for a in addresses))
    if view.plan_text:
        lines = to_diff(view.plan_text)
        fence = fence_for(lines)
        parts.append(f"<details><summary>Plan</summary>\n\n{fence}diff\n" + "\n".join(lines) + f"\n{fence}\n\n</details>")
    parts.append("envctl closes this issue by itself once a drift check finds the project back in line "
                 "(apply the default branch, or revert the change made outside Terraform).")
    return truncate("\n\n".join(parts))
