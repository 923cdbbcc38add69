"""Authentication, CSRF, token privilege intersection and per-endpoint permission checks."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from felhom_provider.sim.auth import FELHOM_AGENT_PRIVILEGES, Acl
from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.sim.helpers import error_of, exitstatus, make_archive, restore


def _url(sim: SimServer, path: str) -> str:
    return f"{sim.endpoint['api_url']}/api2/json{path}"


def test_bad_token_is_401(sim: SimServer) -> None:
    headers = {"Authorization": "PVEAPIToken=felhom-agent@pve!agent=wrong"}
    resp = requests.get(_url(sim, "/version"), headers=headers, verify=False, timeout=10)
    assert resp.status_code == 401 and resp.reason == "Authentication failed!"


def test_no_credentials_is_401(sim: SimServer) -> None:
    resp = requests.get(_url(sim, "/version"), verify=False, timeout=10)
    assert resp.status_code == 401


def test_ticket_and_csrf(sim: SimServer) -> None:
    login = requests.post(
        _url(sim, "/access/ticket"),
        data={"username": "root@pam", "password": sim.endpoint["root_password"]},
        verify=False, timeout=10,
    )  # fmt: skip
    data = login.json()["data"]
    cookies = {"PVEAuthCookie": data["ticket"]}
    assert requests.get(_url(sim, "/version"), cookies=cookies, verify=False, timeout=10).ok
    no_csrf = requests.post(
        _url(sim, "/nodes/pve-sim/vzdump"), cookies=cookies, verify=False, timeout=10
    )
    assert no_csrf.status_code == 401
    with_csrf = requests.post(
        _url(sim, "/nodes/pve-sim/vzdump"), cookies=cookies, verify=False, timeout=10,
        headers={"CSRFPreventionToken": data["CSRFPreventionToken"]},
    )  # fmt: skip
    assert with_csrf.status_code == 500  # past auth: "no guests selected"
    wrong = requests.post(
        _url(sim, "/access/ticket"), data={"username": "root@pam", "password": "nope"},
        verify=False, timeout=10,
    )  # fmt: skip
    assert wrong.status_code == 401


def test_permissions_endpoint(sim: SimServer, sim_client: Any, sim_weak: Any) -> None:
    perms = sim_client.access.permissions.get()
    assert set(perms["/vms"]) == set(FELHOM_AGENT_PRIVILEGES)
    assert set(sim_weak.access.permissions.get(path="/vms")["/vms"]) == {
        "VM.Audit", "Datastore.Audit", "Sys.Audit"
    }  # fmt: skip
    assert sim_weak.access.permissions.get(userid="root@pam", path="/vms")  # Sys.Audit on /access
    sim.state.auth.acls.append(Acl("/access", "felhom-agent@pve!weak", "NoAccess"))
    exc = error_of(sim_weak.access.permissions.get, userid="root@pam")
    assert (exc.status_code, exc.content) == (403, "Permission check failed (/access, Sys.Audit)")


def test_token_privileges_are_capped_by_user(sim: SimServer, sim_weak: Any) -> None:
    sim.state.auth.acls.append(Acl("/", "felhom-agent@pve!weak", "Administrator"))
    perms = sim_weak.access.permissions.get(path="/")["/"]
    assert set(perms) == set(FELHOM_AGENT_PRIVILEGES)  # the user's role bounds the token


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, n: c.nodes(n).lxc.post(vmid=150, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4"),  # noqa: E501
         "Permission check failed"),
        (lambda c, n: c.nodes(n).lxc(9000).status.start.post(),
         "Permission check failed (/vms/9000, VM.PowerMgmt)"),
        (lambda c, n: c.nodes(n).lxc(9000).config.put(cores=2),
         "Permission check failed (/vms/9000, VM.Config.Disk|VM.Config.CPU|VM.Config.Memory|"
         "VM.Config.Network|VM.Config.Options)"),
        (lambda c, n: c.nodes(n).lxc(9000).resize.put(disk="rootfs", size="+1G"),
         "Permission check failed (/vms/9000, VM.Config.Disk)"),
        (lambda c, n: c.nodes(n).lxc(9000).delete(),
         "Permission check failed (/vms/9000, VM.Allocate)"),
        (lambda c, n: c.nodes(n).lxc(9000).template.post(),
         "Permission check failed (/vms/9000, VM.Allocate)"),
        (lambda c, n: c.nodes(n).vzdump.post(vmid="9000"),
         "Permission check failed (/storage/local, Datastore.AllocateSpace)"),
    ],
)  # fmt: skip
def test_weak_token_is_refused(
    sim: SimServer, sim_root: Any, sim_weak: Any, call: Any, message: str
) -> None:
    make_archive(sim_root, sim)
    exc = error_of(call, sim_weak, sim.state.node)
    assert (exc.status_code, exc.content) == (403, message)
    assert sim_weak.nodes(sim.state.node).lxc(9000).config.get()["hostname"] == "felhom-golden"


def _restrict_agent(sim: SimServer, path: str, role: str) -> None:
    sim.state.auth.acls.append(Acl(path, "felhom-agent@pve!agent", role))


def test_restore_needs_sdn_use_on_bridge(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    _restrict_agent(sim, "/sdn/zones/localnetwork/vmbr0", "FelhomAudit")
    exc = error_of(restore, sim_client, sim, archive, 160, rootfs="local-lvm:8",
                   net0="name=eth0,bridge=vmbr0,ip=dhcp")  # fmt: skip
    assert (exc.status_code, exc.content) == (
        403, "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    )  # fmt: skip
    # net0 from the archive is checked inside the worker: the task fails.
    upid = restore(sim_client, sim, archive, 161, rootfs="local-lvm:8")
    assert exitstatus(sim_client, sim, upid) == (
        "unable to restore CT 161 - "
        "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    )


def test_restore_needs_archive_access(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    _restrict_agent(sim, "/vms/9000", "FelhomAudit")
    exc = error_of(restore, sim_client, sim, archive, 162, rootfs="local-lvm:8")
    assert (exc.status_code, exc.content) == (403, "Permission check failed (/vms/9000, VM.Backup)")
    assert 162 not in sim.state.cts


def test_restore_with_token_then_start(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(
        sim_client, sim, archive, 163, rootfs="local-lvm:8", net0="name=eth0,bridge=vmbr0,ip=dhcp"
    )
    assert exitstatus(sim_client, sim, upid) == "OK"
    start = sim_client.nodes(sim.state.node).lxc(163).status.start.post()
    assert exitstatus(sim_client, sim, start) == "OK"
    weak_list = [c["vmid"] for c in sim_client.nodes(sim.state.node).lxc.get()]
    assert weak_list == [163, 9000]
