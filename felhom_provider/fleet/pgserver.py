"""A throwaway local PostgreSQL server for the state backend: tests, benchmarks, trying it out.

Started from the machine's own PostgreSQL binaries (``initdb`` and ``postgres``, found on
``PATH`` or in Debian's ``/usr/lib/postgresql/<version>/bin``), listening on loopback only, on a
free port, with trust authentication for the ``pulumi`` role: fit for a test, not for
production (docs/state-backend.md says how to set up a real one).

``initdb`` and ``postgres`` refuse to run as root. When this process is root the server runs
as the unprivileged ``postgres`` user (Debian's packages create it), in a directory owned by
that user; without such a user the error says what to do.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from felhom_provider.errors import FelhomError

BINARIES = ("initdb", "pg_ctl", "postgres")
SERVICE_USER = "postgres"
DATABASE = "pulumistate"
ROLE = "pulumi"
INSTALL_HINT = (
    "install the PostgreSQL server binaries (initdb, pg_ctl, postgres): "
    "`apt-get install postgresql` on Debian/Ubuntu, `dnf install postgresql-server` on "
    "Fedora/RHEL, `brew install postgresql` on macOS; or put their directory on PATH"
)


class PostgresUnavailableError(FelhomError):
    """The PostgreSQL binaries or an unprivileged user to run them are missing."""


def find_binaries(
    path: str | None = None, packaged: Sequence[str] | None = None
) -> dict[str, Path]:
    """``{name: path}`` for initdb, pg_ctl and postgres; raises with an install hint.

    ``PATH`` first, then Debian's versioned directories (newest first), which are not on
    ``PATH`` by default.
    """
    if packaged is None:
        packaged = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    search = [path if path is not None else os.environ.get("PATH", ""), *packaged]
    for directory in search:
        found = {name: shutil.which(name, path=directory) for name in BINARIES}
        if all(found.values()):
            return {name: Path(p) for name, p in found.items() if p}
    raise PostgresUnavailableError(f"PostgreSQL not found: {INSTALL_HINT}")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    """One local server; ``with LocalPostgres() as pg: pg.url``."""

    timeout_s: float = 60.0
    port: int = 0
    root: Path | None = None
    binaries: dict[str, Path] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    _user: str | None = None

    @property
    def url(self) -> str:
        """The Pulumi backend URL (``postgres://pulumi@127.0.0.1:PORT/pulumistate``)."""
        return f"postgres://{ROLE}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    def _run_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise PostgresUnavailableError(
                "PostgreSQL refuses to run as root and there is no unprivileged "
                f"'{SERVICE_USER}' user to run it as: create one "
                f"(`useradd --system {SERVICE_USER}`) or run as a normal user"
            ) from None
        return SERVICE_USER

    def start(self) -> LocalPostgres:
        """initdb, create the database, start the server and wait until it accepts."""
        self.binaries = self.binaries or find_binaries()
        self._user = self._run_user()
        self.root = Path(tempfile.mkdtemp(prefix="felhom-pg-"))
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data = self.root / "data"
        log = self.root / "server.log"
        self._call(
            [
                self.binaries["initdb"],
                "-D",
                data,
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ]
        )
        # Single-user mode creates the database with the server binary alone (no createdb).
        self._call(
            [self.binaries["postgres"], "--single", "-D", data, "postgres"],
            stdin=f"CREATE DATABASE {DATABASE};\n",
        )
        self.port = self.port or free_port()
        args = [self.binaries["postgres"], "-D", data, "-h", "127.0.0.1", "-p", str(self.port)]
        args += ["-k", self.root, "-c", "fsync=off", "-c", "full_page_writes=off"]
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [str(a) for a in args], stdout=out, stderr=subprocess.STDOUT, user=self._user
            )
        self._wait_ready(log)
        return self

    def _call(self, args: list[str | Path], stdin: str | None = None) -> None:
        result = subprocess.run(
            [str(a) for a in args],
            input=stdin,
            capture_output=True,
            text=True,
            user=self._user,
            cwd=self.root,
            check=False,
            timeout=self.timeout_s,
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"{Path(str(args[0])).name} failed: {result.stderr.strip() or result.stdout}"
            )

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise PostgresUnavailableError(f"postgres exited: {log.read_text()[-2000:]}")
            if "ready to accept connections" in log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise PostgresUnavailableError(f"postgres not ready after {self.timeout_s} s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT) and remove the data directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> int:
    """``python -m felhom_provider.fleet.pgserver``: report whether the binaries are there."""
    try:
        found = find_binaries()
    except PostgresUnavailableError as exc:
        print(f"WARNING: {exc}. The PostgreSQL backend tests need them.")
        return 0
    print(f"PostgreSQL binaries: {found['postgres'].parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
