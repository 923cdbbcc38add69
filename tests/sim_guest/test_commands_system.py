"""ps, ip and ss inside a running guest, compared with Debian 13's procps-ng 4.0.4 and
iproute2 6.15 output for the same processes, addresses and sockets.

The guest boots with one interface (``eth0``, the golden's MAC) and the lease 127.77.0.2;
its running units are cron, ssh and networking (dhclient). The clock is pinned one hour after
the boot so that START/STIME show the boot's ``%H:%M``.
"""

from __future__ import annotations

import datetime

import pytest

from felhom_provider.sim.guest import procs
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result
from tests.sim_guest.helpers import created_guest, facts, run, sh, start

BOOT = datetime.datetime(2026, 11, 29, 9, 5, 7, tzinfo=datetime.UTC)


@pytest.fixture
def guest(monkeypatch: pytest.MonkeyPatch) -> GuestModel:
    model = start(created_guest(), facts(vmid=9101))
    assert model.runtime is not None
    stamped = [
        f"Nov 29 09:05:07 {line.split(' ', 3)[3]}" if " kernel: Booting CT " in line else line
        for line in procs.journal_lines(model)
    ]
    assert any("Booting CT" in line for line in stamped)
    journal = f"/var/log/journal/{model.runtime.machine_id}/system.journal"
    model.fs.write(journal, "".join(line + "\n" for line in stamped))
    monkeypatch.setattr(procs, "now", lambda: BOOT + datetime.timedelta(hours=1))
    return model


MAC6 = "fe80::be24:11ff:fe63:43f4/64"
SSHD = "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
DHCLIENT = (
    "dhclient -4 -v -i -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0.leases -I"
    " -df /var/lib/dhcp/dhclient6.eth0.leases eth0"
)
CASES: list[tuple[str, str, Result]] = [
    # procps-ng ps(1) BSD "u" format: USER 8 left, PID 7, %CPU/%MEM 4, VSZ 6, RSS 5,
    # TTY 8 left, STAT 4 left, START 5 (pr_start: %H:%M on the same day), TIME "M:SS".
    (
        "ps aux",
        "ps aux",
        Result(
            0,
            "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
            "root           1  0.0  2.4  22136 12800 ?        Ss   09:05   0:00 /sbin/init\n"
            "root          40  0.0  2.0  33052 10624 ?        Ss   09:05   0:00"
            " /usr/lib/systemd/systemd-journald\n"
            "root          60  0.0  0.5   6684  2688 ?        Ss   09:05   0:00 /usr/sbin/cron -f\n"
            f"root          80  0.0  1.3  11788  7296 ?        Ss   09:05   0:00 {SSHD}\n"
            f"root         100  0.0  0.7   5848  3968 ?        Ss   09:05   0:00 {DHCLIENT}\n"
            "root         220  0.0  0.8   8300  4224 ?        Rs   10:05   0:00 ps aux\n",
        ),
    ),
    # ps -ef: UID 8 left, PID/PPID 7, C 2, STIME 5, TTY 8 left, TIME HH:MM:SS 8.
    (
        "ps -ef",
        "ps -ef",
        Result(
            0,
            "UID          PID    PPID  C STIME TTY          TIME CMD\n"
            "root           1       0  0 09:05 ?        00:00:00 /sbin/init\n"
            "root          40       1  0 09:05 ?        00:00:00"
            " /usr/lib/systemd/systemd-journald\n"
            "root          60       1  0 09:05 ?        00:00:00 /usr/sbin/cron -f\n"
            f"root          80       1  0 09:05 ?        00:00:00 {SSHD}\n"
            f"root         100       1  0 09:05 ?        00:00:00 {DHCLIENT}\n"
            "root         220       0  0 10:05 ?        00:00:00 ps -ef\n",
        ),
    ),
    (
        "ps -o",
        "ps -o pid,ppid,comm,etime -C sshd,cron",
        Result(
            0,
            "    PID    PPID COMMAND             ELAPSED\n"
            "     60       1 cron               01:00:00\n"
            "     80       1 sshd               01:00:00\n",
        ),
    ),
    ("ps -p no header", "ps -p 1 -o comm=", Result(0, "systemd\n")),
    ("ps nothing selected", "ps -C nginx -o pid", Result(1, "    PID\n")),
    # ipaddress.c print_linkinfo / print_addrinfo.
    (
        "ip addr",
        "ip addr",
        Result(
            0,
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default"
            " qlen 1000\n"
            "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
            "    inet 127.0.0.1/8 scope host lo\n"
            "       valid_lft forever preferred_lft forever\n"
            "    inet6 ::1/128 scope host noprefixroute \n"
            "       valid_lft forever preferred_lft forever\n"
            "2: eth0@if111: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
            " group default qlen 1000\n"
            "    link/ether bc:24:11:63:43:f4 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
            "    inet 127.77.0.2/16 brd 127.77.255.255 scope global eth0\n"
            "       valid_lft forever preferred_lft forever\n"
            f"    inet6 {MAC6} scope link proto kernel_ll \n"
            "       valid_lft forever preferred_lft forever\n",
        ),
    ),
    (
        "ip -4 addr show eth0",
        "ip -4 addr show eth0",
        Result(
            0,
            "2: eth0@if111: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
            " group default qlen 1000 link-netnsid 0\n"
            "    inet 127.77.0.2/16 brd 127.77.255.255 scope global eth0\n"
            "       valid_lft forever preferred_lft forever\n",
        ),
    ),
    # ip -br: "%-16s %-14s " then "ADDR/LEN " per address.
    (
        "ip -br a",
        "ip -br a",
        Result(
            0,
            "lo               UNKNOWN        127.0.0.1/8 ::1/128 \n"
            f"eth0@if111       UP             127.77.0.2/16 {MAC6} \n",
        ),
    ),
    (
        "ip -br link",
        "ip -br link show dev eth0",
        Result(
            0,
            "eth0@if111       UP             bc:24:11:63:43:f4"
            " <BROADCAST,MULTICAST,UP,LOWER_UP> \n",
        ),
    ),
    (
        "ip link",
        "ip link show lo",
        Result(
            0,
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT"
            " group default qlen 1000\n"
            "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n",
        ),
    ),
    # iproute.c print_route: fields with a trailing space each.
    (
        "ip route",
        "ip route",
        Result(
            0,
            "default via 127.77.0.1 dev eth0 \n"
            "127.77.0.0/16 dev eth0 proto kernel scope link src 127.77.0.2 \n",
        ),
    ),
    ("ip unknown device", "ip a show eth9", Result(1, "", 'Device "eth9" does not exist.\n')),
    # ss.c render() off a terminal: columns as wide as their longest entry plus delimiter.
    (
        "ss -tlnp",
        "ss -tlnp",
        Result(
            0,
            "State  Recv-Q Send-Q Local Address:Port Peer Address:Port"
            "Process                      \n"
            "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*   "
            ' users:(("sshd",pid=80,fd=3))\n'
            "LISTEN 0      128             [::]:22           [::]:*   "
            ' users:(("sshd",pid=80,fd=4))\n',
        ),
    ),
    (
        "ss -tuln",
        "ss -tuln",
        Result(
            0,
            "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n"
            "udp   UNCONN 0      0       0.0.0.0%eth0:68        0.0.0.0:*          \n"
            "tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*          \n"
            "tcp   LISTEN 0      128             [::]:22           [::]:*          \n",
        ),
    ),
    (
        "ss -4lt names",
        "ss -4lt",
        Result(
            0,
            "State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n"
            "LISTEN 0      128          0.0.0.0:ssh       0.0.0.0:*          \n",
        ),
    ),
    ("ss connected", "ss -tnH", Result(0, "")),
    ("ss default", "ss", Result(
        0, "Netid State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n")),
    ("ss in a pipe", "ss -tlnH | grep -c :22", Result(0, "2\n")),
]  # fmt: skip


@pytest.mark.parametrize(("script", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_prints_what_debian_prints(
    guest: GuestModel, script: str, expected: Result
) -> None:
    assert sh(guest, script) == expected


def test_ps_and_ss_follow_the_units(guest: GuestModel) -> None:
    assert run(guest, "systemctl", "stop", "ssh").code == 0
    assert "sshd" not in run(guest, "ps", "-eo", "comm").stdout
    assert run(guest, "ss", "-tlnH").stdout == ""
    assert run(guest, "systemctl", "start", "ssh").code == 0
    assert run(guest, "ps", "-C", "sshd", "-o", "comm=").stdout == "sshd\n"


def test_ps_memory_share_uses_the_ct_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    model = start(created_guest(), facts())
    assert model.runtime is not None
    model.runtime.facts.memory = 2048
    assert run(model, "ps", "-p", "1", "-o", "%mem=").stdout == " 0.6\n"


def test_guest_without_lease_has_no_ipv4(monkeypatch: pytest.MonkeyPatch) -> None:
    model = start(created_guest(), facts(), ip="")
    assert (
        run(model, "ip", "-4", "-br", "a").stdout
        == "lo               UNKNOWN        127.0.0.1/8 \n"
    )
    assert run(model, "ip", "route").stdout == ""
