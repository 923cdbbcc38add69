"""``reconcile.engine_base.EngineBase``: the applier it builds, the lease poll (by MAC,
bounded by the lease timeout) and the owner a failed step's rollback destroys for
(mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import FelhomError
from felhom_provider.reconcile.engine_base import EngineBase
from felhom_provider.reconcile.journal import Journal, JournalStatus
from felhom_provider.reconcile.undo import DestroyCT

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/acme"
MAC = "BC:24:11:00:00:02"


class TwoNics(FakePve):
    """A running CT with two NICs; only the second has ``MAC``, both have an address."""

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        self.calls.append(("interfaces", vmid))
        if not self.leases:
            return None
        return [
            {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8"},
            {"name": "eth0", "hwaddr": "bc:24:11:00:00:01", "inet": "127.77.0.1/16"},
            {"name": "eth1", "hwaddr": MAC.lower(), "inet": "127.77.0.2/16"},
        ]


def engine(pve: FakePve, lines: list[str] | None = None) -> tuple[EngineBase, FakeClock]:
    clock = FakeClock()
    base = EngineBase(
        pve,
        lines.append if lines is not None else None,
        clock=clock,
        sleep=clock.sleep,
        task_timeout_s=42.0,
        lease_timeout_s=10.0,
        poll_s=2.5,
        vmid_attempts=3,
    )
    return base, clock


def test_the_applier_shares_the_engines_client_clock_and_bounds() -> None:
    pve = FakePve()
    base, clock = engine(pve)
    applier = base._applier(print)
    assert applier.client is pve and applier.clock is clock and applier.progress is print
    assert (applier.task_timeout_s, applier.poll_s) == (42.0, 2.5)


def test_progress_lines_carry_the_name() -> None:
    lines: list[str] = []
    base, _ = engine(FakePve(), lines)
    base._say_for("acme")("restoring")
    assert lines == ["acme: restoring"]


@pytest.mark.parametrize(("mac", "ip"), [(MAC, "127.77.0.2"), (None, "127.77.0.1")])
def test_the_lease_is_the_address_of_the_nic_with_the_mac(mac: str | None, ip: str) -> None:
    base, _ = engine(TwoNics())
    assert base._lease(101, mac) == ip


def test_no_lease_within_the_lease_timeout_is_none() -> None:
    pve = TwoNics(leases=False)
    base, clock = engine(pve)
    assert base._lease(101, MAC) is None
    assert [c for c in pve.calls if c[0] == "interfaces"] == [("interfaces", 101)] * 5
    assert clock.now == 10.0  # asked at 0, 2.5, 5, 7.5 and 10 s, then gave up


def test_a_failed_body_is_rolled_back_for_the_owner_and_re_raised() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": f"felhom-owner={OWNER}\n"}
    journal = Journal(subject="acme")
    journal.record("restore", {}, undo=DestroyCT(vmid=5))
    base, _ = engine(pve)
    exc = FelhomError("start failed")

    def body() -> None:
        raise exc

    with pytest.raises(FelhomError) as err:
        base._compensated(body, journal, base._applier(print), owner=OWNER, name="acme",
                          step=lambda: "start", say=lambda _l: None)  # fmt: skip
    assert err.value is exc and pve.cts == {}
    assert exc.context == {"guest": "acme", "step": "start", "rolled_back": "destroyed CT 5"}
    assert journal.entries[0].status is JournalStatus.UNDONE


def test_a_body_that_succeeds_returns_its_value_and_undoes_nothing() -> None:
    pve = FakePve()
    journal = Journal(subject="acme")
    journal.record("restore", {}, undo=DestroyCT(vmid=5))
    base, _ = engine(pve)
    got = base._compensated(lambda: 7, journal, base._applier(print), owner=OWNER, name="acme",
                            step=lambda: "start", say=lambda _l: None)  # fmt: skip
    assert got == 7 and journal.entries[0].status is JournalStatus.DONE
