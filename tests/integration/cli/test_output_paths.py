"""--report and --plot paths are checked before any work starts, and the file reported is the one written."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.envs.conftest import Cli
from tests.unit.capacity.test_arithmetic import FAST


def _refused(cli: Cli, *args: str, option: str) -> dict[str, str]:
    started = time.monotonic()
    done = cli.run(*args, "--output", "json", check=False, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    err = json.loads(done.stderr)
    assert err["message"].startswith(option), err
    assert time.monotonic() - started < 45  # refused up front (a rehearsal or measurement takes longer)
    return err


def test_bench_release_refuses_an_unwritable_report_before_the_rehearsal(cli: Cli, tmp_path: Path) -> None:
    err = _refused(cli, "bench", "release", "--chargers", "40", "--strategy", "graceful",
                   "--report", "/proc/x.json", option="--report")  # fmt: skip
    assert "cannot be written" in err["message"] and err["hint"]
    _refused(cli, "bench", "release", "--chargers", "40", "--strategy", "graceful", "--report",
             str(tmp_path / "r.json"), "--plot", "/proc/x.png", option="--plot")  # fmt: skip
    assert not (tmp_path / "r.json").exists()  # the probe leaves nothing behind
    assert cli.run("list", "--output", "json").stdout.strip() == "[]"  # and no fleet was started


def test_bench_capacity_refuses_an_unwritable_report_before_measuring(cli: Cli) -> None:
    _refused(cli, "bench", "capacity", "--report", "/proc/profile.json", option="--report")


def test_capacity_plot_paths_are_checked_and_a_directory_is_refused(cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    FAST.save(profile)
    base = ("capacity", "--chargers", "1000", "--profile", str(profile))
    _refused(cli, *base, "--plot", "/proc/x.png", option="--plot")
    folder = tmp_path / "plots"
    folder.mkdir()
    err = _refused(cli, *base, "--plot", str(folder), option="--plot")
    assert "is a directory" in err["message"] and str(folder / "timeline.png") in err["hint"]
    err = _refused(cli, *base, "--plot", str(tmp_path / "load"), option="--plot")  # matplotlib would add .png
    assert "load.png" in err["hint"]
    written = json.loads(cli.run(*base, "--plot", str(tmp_path / "load.png"), "--output", "json").stdout)
    assert Path(written["plot"]).is_file()


def test_release_summary_checks_its_plot_path_first(cli: Cli) -> None:
    # no environment at all: the bad --plot is what the user hears about, not a traceback later
    _refused(cli, "release", "summary", "--plot", "/proc/x.png", option="--plot")
