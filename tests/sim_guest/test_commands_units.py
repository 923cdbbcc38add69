"""systemctl status/is-enabled/list-units and journalctl, compared with systemd 257's output.

The journal is rewritten to one known time (09:05:07 UTC on 2026-11-29) and the guest's clock
pinned an hour and a half later, so "since …; 1h 30min ago" is fixed.
"""

from __future__ import annotations

import datetime
import re

import pytest

from felhom_provider.sim.guest import journal, procs
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result
from tests.sim_guest.helpers import created_guest, facts, run, sh, start

T0 = datetime.datetime(2026, 11, 29, 9, 5, 7, tzinfo=datetime.UTC)
STAMP = "Nov 29 09:05:07 felhom-golden"


def pin(model: GuestModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every journal line at T0, the clock at T0 + 1h30m."""
    assert model.runtime is not None
    lines = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d", "Nov 29 09:05:07", x)
             for x in procs.journal_lines(model)]  # fmt: skip
    path = f"/var/log/journal/{model.runtime.machine_id}/system.journal"
    model.fs.write(path, "".join(x + "\n" for x in lines))
    monkeypatch.setattr(procs, "now", lambda: T0 + datetime.timedelta(minutes=90))


@pytest.fixture
def guest(monkeypatch: pytest.MonkeyPatch) -> GuestModel:
    model = start(created_guest(), facts(vmid=9101))
    pin(model, monkeypatch)
    return model


def invocation(model: GuestModel, unit: str) -> str:
    text = run(model, "systemctl", "status", unit).stdout
    m = re.search(r" Invocation: ([0-9a-f]{32})\n", text)
    assert m, text
    return m.group(1)


def test_status_of_a_running_service(guest: GuestModel) -> None:
    # systemctl-show.c print_status_info: names right-aligned to 11, "since %a %F %T %Z; rel".
    expected = (
        "● ssh.service - OpenBSD Secure Shell server\n"
        "     Loaded: loaded (/usr/lib/systemd/system/ssh.service; enabled; preset: enabled)\n"
        "     Active: active (running) since Sun 2026-11-29 09:05:07 UTC; 1h 30min ago\n"
        f" Invocation: {invocation(guest, 'ssh')}\n"
        "   Main PID: 80 (sshd)\n"
        "     CGroup: /system.slice/ssh.service\n"
        '             └─80 "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"\n'
        "\n"
        f"{STAMP} systemd[1]: Starting ssh.service - OpenBSD Secure Shell server...\n"
        f"{STAMP} systemd[1]: Started ssh.service - OpenBSD Secure Shell server.\n"
    )
    assert run(guest, "systemctl", "status", "ssh") == Result(0, expected)
    assert run(guest, "systemctl", "status", "sshd.service").stdout == expected  # the alias


def test_status_of_a_oneshot_skipped_by_its_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    model = start(created_guest(), facts())
    model = start_again(model, monkeypatch)
    expected = (
        "○ sshd-keygen.service - Generate sshd host keys on first boot\n"
        "     Loaded: loaded (/usr/lib/systemd/system/sshd-keygen.service; enabled;"
        " preset: enabled)\n"
        "     Active: inactive (dead)\n"
        "  Condition: start condition unmet at Sun 2026-11-29 09:05:07 UTC; 1h 30min ago\n"
        "             └─ ConditionFirstBoot=yes was not met\n"
        "\n"
    )
    res = run(model, "systemctl", "status", "sshd-keygen")
    assert res.code == 3 and res.stdout.startswith(expected)
    assert res.stdout.endswith(
        "systemd[1]: sshd-keygen.service was skipped because of an unmet condition check"
        " (ConditionFirstBoot=yes).\n"
    )


def start_again(model: GuestModel, monkeypatch: pytest.MonkeyPatch) -> GuestModel:
    """Stop and boot again (not a first boot), then pin the journal."""
    from felhom_provider.sim.guest import boot  # noqa: PLC0415 (only this test reboots)

    boot.stop(model)
    model = start(model, facts())
    pin(model, monkeypatch)
    return model


def test_status_of_a_failed_and_of_a_stopped_service(guest: GuestModel) -> None:
    assert sh(guest, "rm -f /etc/ssh/ssh_host_*").code == 0
    res = run(guest, "systemctl", "restart", "ssh")
    assert res.code == 1
    status = run(guest, "systemctl", "status", "ssh")
    assert status.code == 3
    assert status.stdout.startswith("\u00d7 ssh.service - OpenBSD Secure Shell server\n")
    assert "     Active: failed (Result: exit-code) since Sun 2026-11-29" in status.stdout
    assert "systemd[1]: Failed to start ssh.service - OpenBSD Secure Shell server.\n" in (
        status.stdout
    )
    assert run(guest, "systemctl", "stop", "cron").code == 0
    lines = run(guest, "systemctl", "status", "cron").stdout.splitlines()
    assert lines[:3] == [
        "○ cron.service - Regular background program processing daemon",
        "     Loaded: loaded (/usr/lib/systemd/system/cron.service; enabled; preset: enabled)",
        lines[2],
    ]
    assert lines[2].startswith("     Active: inactive (dead) since ")
    assert lines[-1].endswith(
        "systemd[1]: Stopped cron.service - Regular background program processing daemon."
    )


CASES: list[tuple[str, str, Result]] = [
    ("is-enabled", "systemctl is-enabled ssh", Result(0, "enabled\n")),
    ("is-enabled alias", "systemctl is-enabled sshd.service", Result(0, "alias\n")),
    ("is-enabled quiet", "systemctl -q is-enabled ssh; echo $?", Result(0, "0\n")),
    ("is-enabled unknown", "systemctl is-enabled nope", Result(
        1, "", "Failed to get unit file state for nope.service: No such file or directory\n")),
    ("is-active", "systemctl is-active ssh cron", Result(0, "active\nactive\n")),
    ("status unknown", "systemctl status nope",
     Result(4, "", "Unit nope.service could not be found.\n")),
    # systemctl-list-units.c off a terminal: "  " state column, padded columns, legend, count.
    (
        "list-units",
        "systemctl list-units --type=service",
        Result(
            0,
            "  UNIT                LOAD   ACTIVE SUB     DESCRIPTION\n"
            "  cron.service        loaded active running Regular background program processing"
            " daemon\n"
            "  networking.service  loaded active exited  Raise network interfaces\n"
            "  ssh.service         loaded active running OpenBSD Secure Shell server\n"
            "  sshd-keygen.service loaded active exited  Generate sshd host keys on first boot\n"
            "\n"
            "Legend: LOAD   → Reflects whether the unit definition was properly loaded.\n"
            "        ACTIVE → The high-level unit activation state, i.e. generalization of SUB.\n"
            "        SUB    → The low-level unit activation state, values depend on unit type.\n"
            "\n"
            "4 loaded units listed. Pass --all to see loaded but inactive units, too.\n"
            "To show all installed unit files use 'systemctl list-unit-files'.\n",
        ),
    ),
    (
        "list-units targets plain",
        "systemctl list-units --type=target --no-legend --plain",
        Result(
            0,
            "multi-user.target loaded active active Multi-User System\n"
            "sockets.target    loaded active active Socket Units\n",
        ),
    ),
    # No unit listed: no legend; with --state= only the count line.
    ("list-units none", "systemctl list-units --state=failed", Result(
        0, "  UNIT LOAD ACTIVE SUB DESCRIPTION\n\n0 loaded units listed.\n")),
    ("list-units state", "systemctl list-units --state=exited --no-legend | wc -l", Result(
        0, "2\n")),
    # journalctl -o short: "Mon DD HH:MM:SS host ident: message".
    (
        "journalctl -u",
        "journalctl -u ssh --no-pager",
        Result(
            0,
            f"{STAMP} systemd[1]: Starting ssh.service - OpenBSD Secure Shell server...\n"
            f"{STAMP} systemd[1]: Started ssh.service - OpenBSD Secure Shell server.\n",
        ),
    ),
    ("journalctl -n", "journalctl -u ssh -n 1 -o cat", Result(
        0, "Started ssh.service - OpenBSD Secure Shell server.\n")),
    ("journalctl none", "journalctl -u docker", Result(0, "-- No entries --\n")),
    ("journalctl -b", "journalctl -b -n 1 -o cat", Result(
        0, "Reached target multi-user.target - Multi-User System.\n")),
    ("journalctl bad -n", "journalctl -n x",
     Result(1, "", 'journalctl: Failed to parse lines "x".\n')),
]  # fmt: skip


@pytest.mark.parametrize(("script", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_prints_what_debian_prints(
    guest: GuestModel, script: str, expected: Result
) -> None:
    assert sh(guest, script) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "now"), (42, "42s ago"), (90, "1min 30s ago"), (600, "10min ago"),
     (5400, "1h 30min ago"), (7 * 3600, "7h ago"), (90000, "1 day 1h ago"),
     (3 * 86400, "3 days ago")],
)  # fmt: skip
def test_relative_times_as_systemd_formats_them(seconds: int, text: str) -> None:
    assert journal.relative(T0, T0 + datetime.timedelta(seconds=seconds)) == text
