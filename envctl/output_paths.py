"""Files a command will write (--report, --plot): checked before any work starts.

A rehearsal runs for minutes; finding out afterwards that its report cannot be written loses the
run. So every path a command promises to write is probed up front, by creating it the way the
write will (a probe file that is removed again if it did not exist), not by permission bits,
which say nothing useful for root or for /proc-like filesystems.
"""

from __future__ import annotations

import os
from pathlib import Path

from envctl.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def writable(path: Path, option: str) -> Path:
    """`path` if a file can be written there (its folder is created); a ConfigError naming `option` if not."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory", f"name a file, e.g. {option} {path / _example(option)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with open(path, "a"):  # append: an existing file keeps its content
            pass
        if not existed:
            os.unlink(path)
    except OSError as err:
        raise ConfigError(
            f"{option} {path} cannot be written: {err.strerror or err}", f"choose a writable path for {option}"
        ) from None
    return path


def writable_image(path: Path, option: str = "--plot") -> Path:
    """Like writable(), for a plot: the name must say the format, so the file written is the one named."""
    if not path.is_dir() and path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigError(
            f"{option} {path} does not name an image file",
            f"end it in {', '.join(IMAGE_SUFFIXES)}, e.g. {option} {path.with_suffix('.png')}",
        )
    return writable(path, option)


def _example(option: str) -> str:
    return "timeline.png" if option == "--plot" else "report.json"
