"""constraints.txt pins every dependency, and every install that matters uses it (issue 18)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            out[canonicalize_name(name)] = version
    return out


def test_every_dependency_of_pyproject_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]
    locked = pins()
    for req in wanted:
        if req.marker is None or req.marker.evaluate():
            assert canonicalize_name(req.name) in locked, f"{req.name} is not in constraints.txt: run scripts/lock"
            assert req.specifier.contains(locked[canonicalize_name(req.name)]), (req, locked[canonicalize_name(req.name)])


def test_the_tests_run_on_the_locked_versions() -> None:
    for name in ("typer", "pydantic", "starlette", "uvicorn", "kubernetes", "websockets"):
        assert metadata.version(name) == pins()[canonicalize_name(name)], f"{name}: reinstall with -c constraints.txt"


def test_ci_the_images_and_the_readme_install_with_the_constraints() -> None:
    assert "-c constraints.txt -e '.[test]'" in (ROOT / "scripts" / "test").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c constraints.txt -e ." in readme
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "constraints.txt /src/" in dockerfile and "-c /src/constraints.txt /src" in dockerfile
    recipe = (ROOT / "scripts" / "cluster" / "images.py").read_text()
    assert '"-c", str(root / "tmp" / "constraints.txt")' in recipe and "-c /tmp/constraints.txt" in recipe
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        for line in workflow.read_text().splitlines():
            if re.search(r"pip install \.", line) or "pip install -e" in line:
                raise AssertionError(f"{workflow.name}: {line.strip()} does not use -c constraints.txt")
    assert (ROOT / "scripts" / "lock").stat().st_mode & 0o111  # the refresh, run on purpose
