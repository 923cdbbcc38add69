"""Fixtures for the guest tests: keys and a loopback SSH server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import paramiko
import pytest

from .sshserver import LoopbackSshServer, new_ed25519


@pytest.fixture(scope="session")
def node_ed25519() -> paramiko.PKey:
    return new_ed25519()


@pytest.fixture(scope="session")
def node_ecdsa() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture(scope="session")
def node_rsa() -> paramiko.PKey:
    return paramiko.RSAKey.generate(2048)


@pytest.fixture(scope="session")
def client_key() -> paramiko.PKey:
    return new_ed25519()


@pytest.fixture
def node_server(node_ed25519, client_key) -> Iterator[LoopbackSshServer]:
    server = LoopbackSshServer(host_keys=[node_ed25519], authorized=client_key)
    yield server
    server.close()


@pytest.fixture
def all_keys_server(node_ed25519, node_ecdsa, node_rsa, client_key) -> Iterator[LoopbackSshServer]:
    server = LoopbackSshServer(
        host_keys=[node_ed25519, node_ecdsa, node_rsa], authorized=client_key
    )
    yield server
    server.close()
