"""The package's layers: a producer's install imports no worker dependency (of OpenTelemetry, only the
API), and one namespace."""

from __future__ import annotations

import subprocess
import sys

from linguaflow.settings import REPO_ROOT

WORKER_ONLY = ("faust", "mode", "asyncpg", "rocksdict", "uvloop", "opentelemetry.sdk", "aiohttp")
BARE = ("streams", "sinks", "schemas")


def test_the_cli_and_the_client_import_no_worker_dependency() -> None:
    code = (
        "import sys, linguaflow.cli, linguaflow.client;"
        f"print([m for m in {WORKER_ONLY!r} if m in sys.modules])"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_streams_sinks_and_schemas_are_in_the_linguaflow_namespace() -> None:
    for folder in BARE:
        link = REPO_ROOT / "linguaflow" / folder
        assert link.is_symlink()
        assert link.resolve() == (REPO_ROOT / folder).resolve()


def test_no_code_imports_the_folders_by_their_bare_names() -> None:
    links = [REPO_ROOT / "linguaflow" / f for f in BARE]  # the same files again, through the links
    offenders = []
    for folder in ("linguaflow", *BARE, "tests", "testbed", "bench"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            if any(path.is_relative_to(link) for link in links):
                continue
            for line in path.read_text().splitlines():
                words = line.split()
                if len(words) > 1 and words[0] in {"from", "import"} and words[1].split(".")[0] in BARE:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {line.strip()}")
    assert offenders == []
