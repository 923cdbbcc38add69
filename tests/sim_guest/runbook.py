"""The seed's runbook as test steps: golden build over the node shell, token steps over the API.

Commands are those of the seed's golden recipe (docs/field-findings.md), one ``pct exec``
per recipe line, as the spike ran them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import paramiko

from tests.sim_guest.helpers import DOCKER_SOURCES
from tests.sim_guest.nodeshell_client import NodeShellClient

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
BUILD_VMID = 9100
CREATE = (
    f"pct create {BUILD_VMID} {TEMPLATE} --hostname felhom-golden --unprivileged 1"
    " --features nesting=1,keyctl=1 --rootfs local-lvm:8 --cores 2 --memory 2048"
    " --net0 name=eth0,bridge=vmbr0,ip=dhcp --onboot 0"
)
DOCKER_STEPS: list[tuple[list[str], str | None]] = [
    (["apt-get", "update"], None),
    (["apt-get", "install", "-y", "ca-certificates", "curl"], None),
    (["install", "-m", "0755", "-d", "/etc/apt/keyrings"], None),
    (["curl", "-fsSL", "https://download.docker.com/linux/debian/gpg", "-o",
      "/etc/apt/keyrings/docker.asc"], None),
    (["chmod", "a+r", "/etc/apt/keyrings/docker.asc"], None),
    (["tee", "/etc/apt/sources.list.d/docker.sources"], DOCKER_SOURCES),
    (["apt-get", "update"], None),
    (["apt-get", "install", "-y", "docker-ce", "docker-ce-cli", "containerd.io"], None),
]  # fmt: skip
# Seed §2 step 3, line by line.
IDENTITY_CLEAN = [
    "systemctl stop docker containerd",
    "apt-get clean; rm -rf /var/lib/apt/lists/*",
    "rm -f /etc/ssh/ssh_host_*",
    "truncate -s 0 /etc/machine-id",
    "rm -f /var/lib/dbus/machine-id; ln -sf /etc/machine-id /var/lib/dbus/machine-id",
    "rm -rf /var/log/*; : > /root/.bash_history",
    "rm -f /etc/hostname",
]
KEYGEN_UNIT = """[Unit]
Description=Generate missing SSH host keys
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


@dataclass
class Golden:
    """The kept archive and what the build CT had."""

    archive: str
    mac: str


def conf_of(text: str) -> dict[str, str]:
    """pct.conf text → dict."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def hwaddr(net: str) -> str:
    """The hwaddr of a netN value."""
    found = re.search(r"hwaddr=([0-9A-Fa-f:]{17})", net)
    assert found, net
    return found.group(1).upper()


def ok(ran: Any, what: str = "") -> Any:
    """Assert exit 0 and return the result."""
    assert ran.code == 0, (what, ran)
    return ran


def build_golden(node: NodeShellClient, *, keygen_unit: bool = False) -> Golden:
    """Seed §2 steps 1-4 as root over the node shell; returns the archive volid and MAC."""
    ok(node.run(CREATE), "create")
    ok(node.run(f"pct start {BUILD_VMID}"), "start")
    for argv, stdin in DOCKER_STEPS:
        ok(node.pct_exec(BUILD_VMID, *argv, stdin=stdin), " ".join(argv))
    hello = ok(node.pct_exec(BUILD_VMID, "docker", "run", "--rm", "hello-world"))
    assert "Hello from Docker!" in hello.out
    driver = ok(node.pct_exec(BUILD_VMID, "docker", "info", "--format", "{{.Driver}}"))
    assert driver.out == "overlayfs\n"
    if keygen_unit:
        path = "/etc/systemd/system/felhom-ssh-keygen.service"
        ok(node.pct_exec(BUILD_VMID, "tee", path, stdin=KEYGEN_UNIT))
        ok(node.pct_exec(BUILD_VMID, "systemctl", "enable", "felhom-ssh-keygen.service"))
    for line in IDENTITY_CLEAN:
        ok(node.pct_exec(BUILD_VMID, "sh", "-c", line), line)
    mac = hwaddr(conf_of(ok(node.run(f"pct config {BUILD_VMID}")).out)["net0"])
    ok(node.run(f"pct stop {BUILD_VMID}"))
    dump = ok(node.run(f"vzdump {BUILD_VMID} --storage local --mode stop --compress zstd"))
    name = re.search(r"vzdump-lxc-\d+-[\d_-]+\.tar\.zst", dump.out)
    assert name, dump
    return Golden(f"local:backup/{name.group(0)}", mac)


def wait_task(api: Any, node: str, upid: str) -> str:
    """Poll a task to its end; returns the exit status."""
    for _ in range(5000):
        status = api.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            return str(status["exitstatus"])
        time.sleep(0.002)
    raise AssertionError(f"task {upid} did not finish")


def restore(api: Any, node: str, golden: Golden, vmid: int, **params: Any) -> None:
    """Token restore of the golden archive (the seed's 9101)."""
    upid = api.nodes(node).lxc.post(
        vmid=vmid, ostemplate=golden.archive, restore=1, storage="local-lvm", **params
    )
    assert wait_task(api, node, upid) == "OK"


def start(api: Any, node: str, vmid: int) -> None:
    """Token start, waited."""
    assert wait_task(api, node, api.nodes(node).lxc(vmid).status.start.post()) == "OK"


def lease_of(api: Any, node: str, vmid: int) -> str:
    """eth0's IPv4 address from ``GET …/interfaces``."""
    for iface in api.nodes(node).lxc(vmid).interfaces.get():
        if iface["name"] == "eth0":
            return str(iface["inet"]).split("/")[0]
    raise AssertionError("no eth0")


def handshake_fingerprint(address: str, port: int, key_type: str) -> str:
    """Read one host key offered by the guest's sshd (no login) and fingerprint it."""
    sock = socket.create_connection((address, port), timeout=5)
    transport = paramiko.Transport(sock)
    try:
        transport.get_security_options().key_types = [key_type]
        transport.start_client(timeout=5)
        key = transport.get_remote_server_key()
    finally:
        transport.close()
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
