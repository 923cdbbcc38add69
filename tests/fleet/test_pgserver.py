"""The local PostgreSQL helper: clear messages when binaries or a service user are missing,
and a real server that the Pulumi backend URL points at."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from felhom_provider.fleet import pgserver
from felhom_provider.fleet.pgserver import LocalPostgres, PostgresUnavailableError, find_binaries


def test_missing_binaries_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailableError, match="apt-get install postgresql"):
        find_binaries(path=str(tmp_path), packaged=[])


def test_packaged_directory_is_searched(tmp_path: Path) -> None:
    for name in pgserver.BINARIES:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    found = find_binaries(path="", packaged=[str(tmp_path)])
    assert found == {name: tmp_path / name for name in pgserver.BINARIES}


def test_root_without_a_postgres_user_is_told_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user(name: str) -> None:
        raise KeyError(name)

    monkeypatch.setattr("felhom_provider.fleet.pgserver.os.geteuid", lambda: 0)
    monkeypatch.setattr("felhom_provider.fleet.pgserver.pwd.getpwnam", no_user)
    with pytest.raises(PostgresUnavailableError, match="useradd --system postgres"):
        LocalPostgres()._run_user()


def test_server_listens_on_loopback_only(postgres: LocalPostgres) -> None:
    url = urlsplit(postgres.url)
    assert (url.hostname, url.username, url.path) == ("127.0.0.1", "pulumi", "/pulumistate")
    with socket.create_connection(("127.0.0.1", postgres.port), timeout=5):
        pass
    assert postgres.root is not None
    # -h sets listen_addresses: loopback only, whatever postgresql.conf says.
    assert postgres._proc is not None
    args = list(postgres._proc.args)  # type: ignore[arg-type]
    assert args[args.index("-h") + 1] == "127.0.0.1"
    if os.geteuid() == 0:
        # initdb refuses root: the data directory belongs to the unprivileged user.
        assert (postgres.root / "data").stat().st_uid != 0
