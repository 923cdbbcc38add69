"""The control API is for the simulator's admin token only; bodies are size-limited; key
files are private from creation."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import stat
from pathlib import Path

import pytest
from proxmoxer.core import ResourceException

from felhom_provider.sim.certs import write_private
from felhom_provider.sim.server import MAX_BODY, SimServer
from tests.conftest import proxmox_for


@pytest.mark.parametrize("who", ["agent", "weak", "root"])
def test_control_api_refuses_every_pve_identity(sim: SimServer, who: str) -> None:
    ctl = proxmox_for(sim, who)("_sim")
    for call in (
        ctl.audit.get,
        ctl.faults.get,
        lambda: ctl("faults/task").post(type="x", exitstatus="y"),
    ):
        with pytest.raises(ResourceException) as err:
            call()
        assert err.value.status_code == 403
    assert sim.state.faults.to_json() == {"http": [], "tasks": []}


def test_admin_token_has_the_control_api_and_nothing_else(sim: SimServer) -> None:
    admin = proxmox_for(sim, "admin")
    assert "requests" in admin("_sim").audit.get()
    with pytest.raises(ResourceException) as err:
        admin.nodes(sim.state.node).lxc(100).status.start.post()
    assert err.value.status_code == 403  # no ACL: no privilege on anything PVE has
    assert json.loads((sim.state_dir / "endpoint.json").read_text())["tokens"]["admin"]["id"]


def test_oversized_body_is_refused_with_413_before_it_is_read(sim: SimServer) -> None:
    token = sim.endpoint["tokens"]["agent"]
    host, _, port = sim.endpoint["api_url"].removeprefix("https://").partition(":")
    conn = http.client.HTTPSConnection(
        host, int(port), context=ssl._create_unverified_context(), timeout=30
    )
    # Only the headers go out: the simulator must answer without waiting for the body.
    conn.putrequest("POST", f"/api2/json/nodes/{sim.state.node}/lxc")
    conn.putheader("Authorization", f"PVEAPIToken={token['id']}={token['secret']}")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert (response.status, response.reason) == (413, "request too large")
    conn.close()
    assert not list(sim.state_dir.rglob("100.conf"))


def test_private_key_files_are_0600_from_creation(tmp_path: Path) -> None:
    old = os.umask(0)  # a permissive umask must not matter
    try:
        write_private(tmp_path / "k" / "key.pem", b"secret key")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "k" / "key.pem").stat().st_mode)
    assert mode == 0o600 and (tmp_path / "k" / "key.pem").read_bytes() == b"secret key"
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["key.pem"]  # no temp left
