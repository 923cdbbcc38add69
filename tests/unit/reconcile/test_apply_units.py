"""Pure pieces of ``reconcile.apply``: the lease parser, the never-started mark, the lost-answer
search window and the destroy guard, each with the input that tells a mutant apart."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import (
    DispatchLostError,
    OwnershipError,
    ParameterError,
    ReadFailedError,
)
from felhom_provider.reconcile.apply import (
    NEVER_STARTED,
    Applier,
    lease_of,
    without_never_started,
)

from .fakes import FakeClock, FakePve

MAC = "BC:24:11:00:00:10"
LO = {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8"}


@pytest.mark.parametrize(
    ("ifaces", "mac", "ip"),
    [
        (None, MAC, None),
        ([], MAC, None),
        ([LO], None, None),
        ([LO, {"name": "eth0", "hwaddr": MAC.lower(), "inet": "10.0.0.5/24"}], MAC, "10.0.0.5"),
        ([{"name": "eth0", "hwaddr": "BC:24:11:00:00:99", "inet": "10.0.0.5/24"}], MAC, None),
        ([{"name": "eth0", "hwaddr": "BC:24:11:00:00:99", "inet": "10.0.0.5/24"}], None,
         "10.0.0.5"),
        ([{"name": "eth0", "hardware-address": MAC, "ip-addresses": [
            {"ip-address-type": "inet6", "ip-address": "fe80::1"},
            {"ip-address-type": "inet", "ip-address": "10.0.0.7"}]}], MAC, "10.0.0.7"),
        ([{"name": "eth0", "hwaddr": MAC, "ip-addresses": [
            {"ip-address-type": "inet", "ip-address": ""}], "inet": "10.0.0.8/16"}], MAC,
         "10.0.0.8"),
        ([{"name": "eth0", "hwaddr": MAC}], MAC, None),
        ([{"name": "eth1", "inet": "10.1.0.2/24"}], MAC, "10.1.0.2"),  # no hwaddr: not filtered
    ],
)  # fmt: skip
def test_lease_of(ifaces: Any, mac: str | None, ip: str | None) -> None:
    assert lease_of(ifaces, mac) == ip


def test_without_never_started_keeps_every_other_line() -> None:
    text = f"felhom-owner=a/b/c\n{NEVER_STARTED}\nfelhom-archive=x\n"
    assert without_never_started(text) == "felhom-owner=a/b/c\nfelhom-archive=x\n"
    assert without_never_started("no mark\n") == "no mark\n"
    assert without_never_started(f"  {NEVER_STARTED}  \n") == ""


def applier(pve: FakePve, **kw: Any) -> tuple[Applier, FakeClock, list[str]]:
    clock, lines = FakeClock(), list[str]()
    return Applier(pve, lines.append, clock=clock, sleep=clock.sleep, task_timeout_s=60,
                   **kw), clock, lines  # fmt: skip


def test_mark_started_puts_once_with_the_digest_and_not_at_all_without_a_mark() -> None:
    pve = FakePve()
    pve.cts[7] = {"description": f"felhom-owner=a/b/c\n{NEVER_STARTED}\n", "digest": "d1"}
    app, _, _ = applier(pve)
    app.mark_started(7)
    puts = [args for name, args in pve.calls if name == "put_config"]
    assert puts == [(7, {"description": "felhom-owner=a/b/c\n"})]
    app.mark_started(7)  # already gone: read only
    assert [n for n, _ in pve.calls].count("put_config") == 1


def test_mark_started_reads_again_after_a_refused_put_and_gives_up_bounded() -> None:
    class Refuses(FakePve):
        refusals = 10

        def put_config(self, vmid: int, params: Any = None, delete: Any = (),
                       digest: str | None = None, **options: Any) -> None:  # fmt: skip
            self.calls.append(("put_config", vmid))
            if self.refusals:
                self.refusals -= 1
                raise ParameterError("detected modified configuration - file changed")
            super().put_config(vmid, params, delete, digest, **options)

    pve = Refuses()
    pve.cts[7] = {"description": f"{NEVER_STARTED}\n"}
    app, _, lines = applier(pve)
    with pytest.raises(ParameterError):
        app.mark_started(7, attempts=3)
    assert [n for n, _ in pve.calls].count("put_config") == 3
    assert sum("reading it again" in line for line in lines) == 2
    pve.refusals = 1
    app.mark_started(7, attempts=3)
    assert NEVER_STARTED not in pve.cts[7]["description"]


def test_recover_searches_the_whole_lock_window_and_counts_failed_reads_as_not_found() -> None:
    class Late(FakePve):
        reads = 0

        def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
            self.reads += 1
            if self.reads < 4:
                raise ReadFailedError("PVE 500 on GET tasks")
            return "UPID:pve:1:2:3:vzstart:7:x:" if self.reads >= 20 else None

    pve = Late()
    app, clock, _ = applier(pve, poll_s=1.0, lock_window_s=12.0, find_attempts=5)
    err = DispatchLostError("lost", task_type="vzstart", vmid=7, sent_at=0.0)
    assert app.recover(err, "vzstart", 7) is None  # gave up once the window passed
    assert 12.0 <= clock.now <= 13.0 and pve.reads == 13
    pve.reads = 0
    app2, _, _ = applier(pve, poll_s=1.0, lock_window_s=30.0, find_attempts=5)
    assert app2.recover(err, "vzstart", 7) == "UPID:pve:1:2:3:vzstart:7:x:"


def test_destroy_refuses_a_foreign_marker_and_an_unmarked_ct_unless_trusted() -> None:
    pve = FakePve()
    pve.cts[8] = {"description": "felhom-owner=other/x/y\n"}
    pve.cts[9] = {"description": "no marker\n"}
    app, _, _ = applier(pve)
    with pytest.raises(OwnershipError, match="not touched"):
        app.destroy(8, "a/b/c")
    with pytest.raises(OwnershipError):
        app.destroy(9, "a/b/c")
    assert 8 in pve.cts and 9 in pve.cts
    assert app.destroy(9, "a/b/c", trust_unmarked=True) is True and 9 not in pve.cts
    assert app.destroy(9, "a/b/c") is False  # already gone
