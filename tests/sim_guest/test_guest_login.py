"""Static net0 and the guest's sshd: key login from ``/root/.ssh/authorized_keys``, exec."""

from __future__ import annotations

from typing import Any

import paramiko
import pytest

from felhom_provider.sim.server import SimServer
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import build_golden, ok, restore, start

SETUP = (
    "mkdir -p -m 700 /root/.ssh; cat > /root/.ssh/authorized_keys;"
    " chmod 600 /root/.ssh/authorized_keys"
)
STATIC = "name=eth0,bridge=vmbr0,ip=127.78.0.10/24,gw=127.78.0.1,ip6=fd00::10/64,gw6=fd00::1"


def _key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate(bits=256)


def _line(key: paramiko.PKey, comment: str = "customer@laptop") -> str:
    return f"{key.get_name()} {key.get_base64()} {comment}\n"


def _login(sim: SimServer, key: paramiko.PKey, user: str = "root") -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # host keys: other tests
    client.connect(
        "127.78.0.10",
        port=sim.endpoint["guest_ssh_port"],
        username=user,
        pkey=key,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def _run(client: paramiko.SSHClient, command: str, stdin: str = "") -> tuple[int, str]:
    chan_in, out, _ = client.exec_command(command, timeout=10)
    if stdin:
        chan_in.write(stdin)
    chan_in.channel.shutdown_write()
    return out.channel.recv_exit_status(), out.read().decode()


@pytest.fixture
def static_guest(guest_sim: SimServer, node: NodeShellClient, api: Any) -> int:
    golden = build_golden(node, keygen_unit=True)
    restore(
        api,
        guest_sim.state.node,
        golden,
        401,
        hostname="cust-a",
        net0=STATIC,
        nameserver="127.0.0.53",
        searchdomain="example.org",
        rootfs="local-lvm:8",
    )
    start(api, guest_sim.state.node, 401)
    return 401


def test_static_address_reaches_the_guest_and_the_interfaces_endpoint(
    guest_sim: SimServer, node: NodeShellClient, api: Any, static_guest: int
) -> None:
    ifaces = {i["name"]: i for i in api.nodes(guest_sim.state.node).lxc(401).interfaces.get()}
    assert ifaces["eth0"]["inet"] == "127.78.0.10/24"
    assert ifaces["eth0"]["inet6"] == "fd00::10/64"
    text = ok(node.pct_exec(401, "cat", "/etc/network/interfaces")).out
    assert "iface eth0 inet static\n\taddress 127.78.0.10/24\n\tgateway 127.78.0.1\n" in text
    assert "iface eth0 inet6 static\n\taddress fd00::10/64\n\tgateway fd00::1\n" in text
    resolv = ok(node.pct_exec(401, "cat", "/etc/resolv.conf")).out
    assert "search example.org\nnameserver 127.0.0.53\n" in resolv
    # No DHCP lease is taken for a static interface.
    mac = api.nodes(guest_sim.state.node).lxc(401).config.get()["net0"].split("hwaddr=")[1][:17]
    assert mac not in guest_sim.state.dhcp.leases


def test_key_in_authorized_keys_logs_in_and_runs_commands(
    guest_sim: SimServer, node: NodeShellClient, static_guest: int
) -> None:
    key, other = _key(), _key()
    setup = SETUP
    ok(node.pct_exec(401, "sh", "-c", setup, stdin="# operator keys\n" + _line(key)))
    client = _login(guest_sim, key)
    try:
        assert _run(client, "hostname") == (0, "cust-a\n")
        assert _run(client, "cat > /tmp/x; cat /tmp/x", stdin="via ssh\n") == (0, "via ssh\n")
        code, _ = _run(client, "test -f /nonexistent")
        assert code == 1
    finally:
        client.close()
    with pytest.raises(paramiko.AuthenticationException):
        _login(guest_sim, other)
    with pytest.raises(paramiko.AuthenticationException):
        _login(guest_sim, key, user="debian")
    # The key is removed: no login any more.
    ok(node.pct_exec(401, "sh", "-c", "cat > /root/.ssh/authorized_keys", stdin=_line(other)))
    with pytest.raises(paramiko.AuthenticationException):
        _login(guest_sim, key)
    _login(guest_sim, other).close()


@pytest.mark.parametrize(
    "loosen", ["chmod 666 /root/.ssh/authorized_keys", "chmod 777 /root/.ssh", "chmod 775 /root"]
)
def test_strict_modes_refuse_writable_paths(
    guest_sim: SimServer, node: NodeShellClient, static_guest: int, loosen: str
) -> None:
    key = _key()
    setup = SETUP
    ok(node.pct_exec(401, "sh", "-c", setup, stdin=_line(key)))
    _login(guest_sim, key).close()
    ok(node.pct_exec(401, "sh", "-c", loosen))
    with pytest.raises(paramiko.AuthenticationException):
        _login(guest_sim, key)


def test_pct_push_pull_and_hostname_at_next_start(
    guest_sim: SimServer, node: NodeShellClient, api: Any, static_guest: int
) -> None:
    key = _key()
    ok(node.pct_exec(401, "mkdir", "-p", "-m", "700", "/root/.ssh"))
    push = "pct push 401 /dev/stdin /root/.ssh/authorized_keys --perms 0600"
    ok(node.run(push, stdin=_line(key)))
    assert ok(node.run("pct pull 401 /root/.ssh/authorized_keys /dev/stdout")).out == _line(key)
    client = _login(guest_sim, key)
    try:
        # hostname is a fast-plug option: in the config at once, in the guest at next start.
        n = guest_sim.state.node
        api.nodes(n).lxc(401).config.put(hostname="cust-b")
        assert api.nodes(n).lxc(401).config.get(current=1)["hostname"] == "cust-b"
        assert _run(client, "hostname") == (0, "cust-a\n")
    finally:
        client.close()
    ok(node.run("pct stop 401"))
    ok(node.run("pct start 401"))
    client = _login(guest_sim, key)
    try:
        assert _run(client, "hostname") == (0, "cust-b\n")
    finally:
        client.close()


def test_node_shell_and_sshd_follow_a_reloaded_state(
    guest_sim: SimServer, node: NodeShellClient, static_guest: int
) -> None:
    key = _key()
    ok(node.pct_exec(401, "sh", "-c", SETUP, stdin=_line(key)))
    guest_sim.reload_state()  # what POST /_sim/restart does: the API daemon died
    ok(node.pct_exec(401, "sh", "-c", "echo after > /root/after.txt"))
    assert "/root/after.txt" in guest_sim.state.cts[401].guest["fs"]
    client = _login(guest_sim, key)
    try:
        assert _run(client, "cat /root/after.txt") == (0, "after\n")
    finally:
        client.close()
