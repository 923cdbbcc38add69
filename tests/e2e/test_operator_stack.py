"""An operator's stack with the real Pulumi CLI against the simulator: the field-table
features end to end.

One stack (module scope), in file order: a guest named like the golden image is refused at
preview; ``up`` brings a guest with boot order, a VLAN, a pinned MAC and SSH keys whose
``known_hosts`` lines verify by handshake; a memory change does not restart it; a hostname
change with ``restarts: deferred`` leaves it running and reports the pending change; a
hand-made CT is imported and a second ``up`` is a no-op; with ``hostKeyCheck: nodeShell`` a
static guest comes up although the runner cannot reach any guest's SSH port.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from felhom_provider.guest.hostkeys import probe_public_keys
from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell
from felhom_provider.reconcile.access import AUTHORIZED_KEYS
from tests.e2e.pulumi_cli import PulumiProject, copy_project
from tests.e2e.test_stack_lifecycle import Run, Sim, dev_config, make_project

OPERATOR = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw op@x"
_CUSTOMER_KEY = Ed25519PrivateKey.generate()
CUSTOMER = (
    _CUSTOMER_KEY.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    + " customer@acme"
)
PINNED_MAC = "BC:24:11:E2:E0:01"
WEB: dict[str, Any] = {
    "name": "op-web",
    "memory": 1024,
    "startup": {"order": 1, "up": 0},
    "network": {"ip": "dhcp", "vlan": 20, "firewall": True, "mac": PINNED_MAC},
    "sshAuthorizedKeys": [CUSTOMER],
}


def node_shell(sim: Sim) -> ParamikoNodeShell:
    ns = sim.endpoint["node_shell"]
    return ParamikoNodeShell(
        NodeShellSettings(
            host=ns["host"],
            port=ns["port"],
            user=ns["user"],
            host_key=ns["host_public_key"],
            key_file=ns["client_private_key_path"],
        )
    )


def customer_login(ip: str, port: int, known_hosts: list[str]) -> str:
    """Log in as root with the customer's key, host key pinned from the outputs' known_hosts
    lines; returns what ``hostname`` prints."""
    pem = _CUSTOMER_KEY.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    client = paramiko.SSHClient()
    for line in known_hosts:
        host, key_type, blob = line.split()
        client.get_host_keys().add(
            host, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            ip, port, username="root", pkey=key, timeout=10, allow_agent=False, look_for_keys=False
        )
        _, stdout, _ = client.exec_command("hostname", timeout=10)
        return str(stdout.read().decode()).strip()
    finally:
        client.close()


def requests(sim: Sim, method_path: str) -> int:
    """How many requests of ``METHOD /path-template`` reached the simulator."""
    return sum(n for k, n in sim.audit()["requests"].items() if k.startswith(method_path))


@pytest.fixture(scope="module")
def run(pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("operator")
    sim = Sim(base / "sim")

    def factory(source: Path) -> PulumiProject:
        workdir = copy_project(source, base / "project")
        (base / "pulumi-state" / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=base / "pulumi-state", bin_dir=pulumi_cli)

    config = dev_config(
        **{
            "felhom:guests": [WEB],
            "felhom:sshAuthorizedKeys": [OPERATOR],
            "felhom:restarts": "deferred",
            "felhom:stackId": "e2e0op0stack",
        }
    )
    try:
        yield Run(sim, make_project(factory, base / "src", sim, config))
    finally:
        sim.stop()


def test_a_guest_named_like_the_golden_image_is_refused_at_preview(run: Run) -> None:
    run.set_guests([{"name": "golden"}])
    result = run.pulumi("preview", check=False)
    assert result.returncode != 0
    assert "felhom:guests[0].name" in result.stdout + result.stderr
    assert "reserved" in result.stdout + result.stderr
    run.set_guests([WEB])


def test_up_brings_the_declared_boot_network_and_keys(run: Run) -> None:
    up = run.pulumi("up", "--yes")
    # With a stack id in the marker the step log still shows against the resource.
    assert "restoring CT" in up.stdout and "writing 2 SSH key(s)" in up.stdout
    web = run.guests()["op-web"]
    assert web["owner"] == "e2e0op0stack:felhom/e2e/op-web"
    assert web["mac"] == PINNED_MAC and web["state"] == "running"
    assert web["network"] == {"ip": "dhcp", "vlan": 20, "firewall": True, "mac": PINNED_MAC}
    assert web["onboot"] is True and web["startup"] == {"order": 1, "up": 0}
    assert web["sshUser"] == "root" and web["hostKeysVerified"] is True
    text = node_shell(run.sim).exec(web["vmid"], ["cat", AUTHORIZED_KEYS]).check().stdout
    assert OPERATOR in str(text) and CUSTOMER in str(text)


def test_known_hosts_lines_verify_the_guest_by_handshake(run: Run) -> None:
    web = run.guests()["op-web"]
    port, ip = int(web["sshPort"]), web["ipv4"]
    offered = probe_public_keys(ip, port, 10.0)
    by_ip = [line for line in web["knownHosts"] if line.split()[0] in (ip, f"[{ip}]:{port}")]
    assert len(by_ip) == len(web["hostPublicKeys"]) >= 1
    for line in by_ip:
        _, key_type, blob = line.split()
        assert offered[key_type] == f"{key_type} {blob}"
    assert any(line.split()[0].strip("[").startswith(web["hostname"]) for line in web["knownHosts"])


def test_the_customer_key_logs_in_and_a_removed_key_no_longer_does(run: Run) -> None:
    web = run.guests()["op-web"]
    ip, port = web["ipv4"], int(web["sshPort"])
    assert customer_login(ip, port, web["knownHosts"]) == web["hostname"]
    run.set_guests([{**WEB, "sshAuthorizedKeys": []}])
    run.pulumi("up", "--yes")
    with pytest.raises(paramiko.AuthenticationException):
        customer_login(ip, port, web["knownHosts"])
    run.set_guests([WEB])
    run.pulumi("up", "--yes")
    assert customer_login(ip, port, web["knownHosts"]) == web["hostname"]


def test_the_guest_survives_a_node_reboot(run: Run) -> None:
    web = run.guests()["op-web"]
    answer = run.sim.admin._call("POST", "/_sim/node/reboot")
    run.sim.client.wait_task(str(answer["upid"]), 120)
    status = run.sim.client.status(web["vmid"])
    assert status["status"] == "running"


def test_memory_change_does_not_restart_and_hostname_waits(run: Run) -> None:
    starts = requests(run.sim, "POST /nodes/{node}/lxc/{vmid}/status/start")
    shutdowns = requests(run.sim, "POST /nodes/{node}/lxc/{vmid}/status/shutdown")
    run.set_guests([{**WEB, "memory": 2048, "hostname": "op-www"}])
    up = run.pulumi("up", "--yes")
    assert "restart deferred" in up.stdout
    web = run.guests()["op-web"]
    assert web["memory"] == 2048 and web["state"] == "running"
    assert web["pendingRestart"] == ["hostname"]
    assert requests(run.sim, "POST /nodes/{node}/lxc/{vmid}/status/start") == starts
    assert requests(run.sim, "POST /nodes/{node}/lxc/{vmid}/status/shutdown") == shutdowns


def test_import_adopts_a_hand_made_ct_and_the_next_up_is_a_no_op(run: Run) -> None:
    archive = run.project.outputs()["goldenImage"]["archive"]
    client = run.sim.client
    overrides = {
        "hostname": "legacy",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "rootfs": "local-lvm:8",
        "cores": 1,
        "memory": 1024,
        "swap": 512,
        "onboot": 1,
        "cpulimit": 0,
        "cpuunits": 100,
        "unprivileged": 1,
        "description": "made by hand\n",
    }
    client.wait_task(client.restore_lxc(777, archive, overrides), 120)
    client.wait_task(client.start(777), 120)
    legacy = {"name": "legacy", "import": 777}
    run.set_guests([{**WEB, "memory": 2048, "hostname": "op-www"}, legacy])
    run.pulumi("up", "--yes")
    assert run.guests()["legacy"]["vmid"] == 777
    text = node_shell(run.sim).exec(777, ["cat", AUTHORIZED_KEYS]).check().stdout
    assert OPERATOR in str(text)
    before = run.sim.mutations()
    again = run.pulumi("up", "--yes")
    assert "5 unchanged" in again.stdout, again.stdout
    assert run.sim.mutations() == before


def test_node_shell_check_needs_no_path_to_the_guests(run: Run) -> None:
    run.project.run("config", "set", "felhom:hostKeyCheck", "nodeShell")
    # Nothing answers there: a handshake would fail, reading /etc/ssh over pct exec does not.
    run.project.run("config", "set", "felhom:guestSshPort", "9")
    static = {"name": "op-static", "network": {"ip": "127.0.61.7/24", "gw": "127.0.61.1"}}
    current = [{**WEB, "memory": 2048, "hostname": "op-www"}, {"name": "legacy", "import": 777}]
    run.set_guests([*current, static])
    run.pulumi("up", "--yes")
    guest = run.guests()["op-static"]
    assert guest["ipv4"] == "127.0.61.7" and guest["hostPublicKeys"]
    assert json.dumps(guest["knownHosts"]).count("127.0.61.7") == len(guest["hostPublicKeys"])


def test_destroy_removes_everything(run: Run) -> None:
    run.pulumi("destroy", "--yes")
    assert run.sim.cts() == []
