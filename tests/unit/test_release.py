"""Release basics: one version, shown by the CLI; the license and the typing marker ship."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import linguaflow
from linguaflow.settings import REPO_ROOT


def test_the_version_comes_from_pyproject_and_the_cli_shows_it() -> None:
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert linguaflow.__version__ == declared
    shown = subprocess.run(
        [sys.executable, "-m", "linguaflow.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == f"linguaflow {declared}"
    assert f"## {declared}" in (REPO_ROOT / "CHANGELOG.md").read_text()


def test_license_and_typing_marker_are_packaged() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text()
    assert (REPO_ROOT / "linguaflow" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["linguaflow"]


def test_the_lock_pins_every_dependency_the_project_declares() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += [d for d in extra if not d.startswith("linguaflow[")]
    pinned = {
        line.split("==")[0].lower()
        for line in (REPO_ROOT / "requirements" / "dev.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    names = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in declared}
    assert names - pinned == set()
