"""Is a comment valid markdown on its own? Parsed by markdown-it-py (CommonMark), not by regexes."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark")


def problems(body: str) -> list[str]:
    """Every fence closed by a real closing fence, every <details> closed, in order; [] when valid."""
    found = []
    lines = body.split("\n")
    depth = 0
    for token in _md.parse(body):
        if token.type == "fence":
            assert token.map is not None
            start, end = token.map
            closing = lines[end - 1].strip() if end - 1 > start else ""
            char = token.markup[0]
            if not (closing.startswith(token.markup) and set(closing) == {char}):
                found.append(f"fence opened on line {start + 1} is never closed")
        html = token.content if token.type == "html_block" else ""
        if token.type == "inline":
            html = "".join(child.content for child in token.children or () if child.type == "html_inline")
        for tag in re.findall(r"</?details\b", html):
            depth += -1 if tag.startswith("</") else 1
            if depth < 0:
                found.append("</details> without an opening <details>")
                depth = 0
    if depth:
        found.append(f"{depth} <details> left open")
    return found
