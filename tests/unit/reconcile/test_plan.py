"""Table-driven tests of the pure planning: restore parameters, updates, read-back checks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.errors import ConfigError, VerificationError
from felhom_provider.pve.props import parse_pct_conf, parse_property_string
from felhom_provider.reconcile.model import GuestSpec, MountSpec, owner_tag
from felhom_provider.reconcile.plan import check_archive_config, desired_tags, plan_restore
from felhom_provider.reconcile.readback import verify_readback
from felhom_provider.reconcile.update_plan import plan_update

from .fakes import GOLDEN_CONF, GOLDEN_MAC

CASES = Path(__file__).parent / "cases"
OWNER = "felhom/dev/acme-web"
ARCHIVE = "local:backup/golden.tar.zst"
GOLDEN = parse_pct_conf(GOLDEN_CONF)


def spec(**over: Any) -> GuestSpec:
    base: dict[str, Any] = dict(
        name="acme-web",
        owner=OWNER,
        node="pve",
        archive=ARCHIVE,
        hostname="acme-web",
        cores=2,
        memory=2048,
        swap=512,
        rootfs_storage="local-lvm",
        rootfs_gib=10,
        mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
    )
    if "mounts" in over:
        over["mounts"] = tuple(
            m if isinstance(m, MountSpec) else MountSpec(**m) for m in over["mounts"]
        )
    if "tags" in over:
        over["tags"] = tuple(over["tags"])
    base.update(over)
    return GuestSpec(**base)


# --- plan_restore -----------------------------------------------------------------------


def test_restore_is_one_call_with_every_override() -> None:
    params = plan_restore(spec(), 123, GOLDEN)
    assert params["restore"] == 1 and params["ostemplate"] == ARCHIVE and params["vmid"] == 123
    assert params["hostname"] == "acme-web"  # F2: hostname set in the restore itself
    assert params["rootfs"] == "local-lvm:10"  # advanced restore: sized at restore
    assert params["mp0"] == "local-lvm:1,mp=/mnt/data"
    assert (params["cores"], params["memory"], params["swap"]) == (2, 2048, 512)
    assert "felhom-owner=" + OWNER in params["description"].splitlines()
    assert owner_tag(OWNER) in params["tags"].split(";") and "felhom" in params["tags"]


@pytest.mark.parametrize("forbidden", ["unique", "start", "storage", "force"])
def test_restore_never_passes(forbidden: str) -> None:
    # unique=1 discards the passed net0; start=1 loses the vzstart UPID (design §4.2, §4.8).
    assert forbidden not in plan_restore(spec(), 123, GOLDEN)


@pytest.mark.parametrize(
    ("golden_net0", "bridge", "want"),
    [
        (
            f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp,type=veth",
            "vmbr0",
            {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp", "type": "veth"},
        ),
        (
            f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp,firewall=1",
            "vmbr9",
            {"name": "eth0", "bridge": "vmbr9", "ip": "dhcp"},  # the declared network wins
        ),
        (None, "vmbr0", {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}),
    ],
)
def test_restore_net0_has_no_hwaddr(
    golden_net0: str | None, bridge: str, want: dict[str, str]
) -> None:
    golden = dict(GOLDEN)
    if golden_net0 is None:
        golden.pop("net0")
    else:
        golden["net0"] = golden_net0
    net0 = plan_restore(spec(bridge=bridge), 123, golden)["net0"]
    assert parse_property_string(net0, default_key="name") == want  # F1: PVE fills a fresh MAC


def test_restore_numbers_mounts_in_order() -> None:
    mounts = (MountSpec("local-lvm", 1, "/a"), MountSpec("tank", 20, "/b"))
    params = plan_restore(spec(mounts=mounts), 200, GOLDEN)
    assert (params["mp0"], params["mp1"]) == ("local-lvm:1,mp=/a", "tank:20,mp=/b")
    assert "mp2" not in params


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"features": "nesting=1"}, "keyctl=1"),
        ({"features": "keyctl=1"}, "nesting=1"),
        ({"unprivileged": "0"}, "unprivileged"),
        ({"template": "1"}, "template"),
        ({"net1": "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:00:00:01"}, "extra NICs"),
        ({"lxc.apparmor.profile": "unconfined"}, "lxc.*"),
    ],
)
def test_unfit_archive_is_refused(edit: dict[str, str], problem: str) -> None:
    golden = {**GOLDEN, **edit}
    facts = check_archive_config(golden)
    assert any(problem in p for p in facts.problems)
    with pytest.raises(VerificationError, match="unfit"):
        plan_restore(spec(), 123, golden)


def test_archive_facts_record_golden_identity() -> None:
    facts = check_archive_config(GOLDEN)
    assert facts.problems == ()
    assert (facts.mac, facts.hostname, facts.unprivileged) == (GOLDEN_MAC, "felhom-golden", True)


# --- plan_update (data files: one case per file) ----------------------------------------


def _cases() -> list[Path]:
    return sorted((CASES / "plan_update").glob("*.json"))


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_plan_update_case(path: Path) -> None:
    case = json.loads(path.read_text())
    observed = dict(case["observed"])
    observed["tags"] = observed["tags"].replace("felhom-OWNERTAG", owner_tag(OWNER))
    new = spec(**case["desired"])
    pending = tuple(case.get("pending_before", ()))
    if "error" in case:
        with pytest.raises(ConfigError) as info:
            plan_update(observed, new, running=case["running"], pending=pending)
        assert info.value.field == case["error"]
        return
    plan = plan_update(observed, new, running=case["running"], pending=pending)
    steps = plan.steps
    assert list(plan.pending) == case.get("pending", [])
    got = [{"kind": s.kind, "params": s.params} for s in steps]
    want = json.loads(
        json.dumps(case["steps"]).replace('"TAGS"', json.dumps(";".join(desired_tags(new))))
    )
    assert got == want
    assert all(s.reason for s in steps)  # every step says why (shown in pulumi up)
    if not steps and not plan.pending:
        assert case["noop_reason"]


def test_plan_update_reboot_reason_names_the_keys() -> None:
    observed = json.loads((CASES / "plan_update" / "hostname_running.json").read_text())
    cfg = observed["observed"]
    cfg["tags"] = cfg["tags"].replace("felhom-OWNERTAG", owner_tag(OWNER))
    steps = plan_update(cfg, spec(hostname="other", cores=3), running=True).steps
    assert steps[-1].kind == "reboot" and "hostname reach it only at start" in steps[-1].reason
    assert "cores" not in steps[-1].reason  # cores is fast-plug: no restart for it


# --- verify_readback --------------------------------------------------------------------


def _restored(**edit: str) -> dict[str, Any]:
    cfg = {
        **GOLDEN,
        "hostname": "acme-web",
        "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:A6:C0:DE,ip=dhcp,type=veth",
        "rootfs": "local-lvm:vm-123-disk-0,size=10G",
        "mp0": "local-lvm:vm-123-disk-1,mp=/mnt/data,size=1G",
        "description": f"felhom-owner={OWNER}\nfelhom-archive={ARCHIVE}\n",
        "tags": f"felhom;{owner_tag(OWNER)}",
        "onboot": 1,
    }
    cfg.update(edit)
    return cfg


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({}, None),
        ({"net0": f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp"}, "golden MAC"),
        ({"net0": f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC.lower()},ip=dhcp"}, "golden MAC"),
        ({"net0": "name=eth0,bridge=vmbr0,ip=dhcp"}, "no hwaddr"),
        ({"hostname": "felhom-golden"}, "(F2)"),
        ({"rootfs": "local-lvm:vm-123-disk-0,size=8G"}, "rootfs size"),
        ({"rootfs": "local-lvm:vm-123-disk-0,size=10240M"}, None),
        ({"mp0": "local-lvm:vm-123-disk-1,mp=/data,size=1G"}, "mp0 path"),
        ({"mp1": "local-lvm:vm-123-disk-2,mp=/x,size=1G"}, "unexpected mount"),
        ({"features": "nesting=1"}, "features lost keyctl"),
        ({"unprivileged": "0"}, "not unprivileged"),
        ({"memory": "512"}, "memory"),
        ({"description": "felhom-owner=other/x/y\n"}, "ownership marker"),
        ({"lock": "create"}, "locked"),
    ],
)
def test_verify_readback(edit: dict[str, str], problem: str | None) -> None:
    problems = verify_readback(spec(), _restored(**edit), GOLDEN_MAC)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_verify_missing_mount() -> None:
    cfg = _restored()
    del cfg["mp0"]
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == ["mp0 (/mnt/data) missing"]


def test_spec_changes_do_not_leak_into_each_other() -> None:
    assert replace(spec(), cores=8).cores == 8 and spec().cores == 2
