"""The vendored chart library is the npm release it claims to be, licence included, and no page
loads anything from outside the dashboard."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import envctl.dashboard

PKG = Path(envctl.dashboard.__file__).parent
VENDOR = PKG / "static" / "vendor"


def test_vendored_files_match_their_recorded_checksums() -> None:
    sums = dict(reversed(line.split()) for line in (VENDOR / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE.uPlot"}
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (VENDOR / "LICENSE.uPlot").read_text()


def test_pages_and_scripts_load_nothing_from_outside() -> None:
    external = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.I)
    for path in [*(PKG / "templates").glob("*.html"), *(PKG / "static").glob("*.js")]:
        text = path.read_text()
        assert not external.search(text), f"{path.name} loads something from outside"
        assert "fetch(\"http" not in text and "EventSource(\"http" not in text, path.name
