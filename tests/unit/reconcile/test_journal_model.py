"""Journal serialisation and undo order; model validation and JSON round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.model import (
    GoldenSpec,
    GoldenState,
    GuestSpec,
    GuestState,
    MountSpec,
    owner_of,
    owner_tag,
)
from felhom_provider.reconcile.undo import DestroyCT, StopCT


def _journal() -> Journal:
    j = Journal("create guest acme-web")
    j.record(
        "verify-archive", {"archive": "local:backup/a.tar.zst"}, result={"mac": "BC:24:11:00:00:01"}
    )
    e = j.begin("restore", {"vmid": 101}, undo=DestroyCT(vmid=101, node="pve"))
    j.done(e, {"upid": "UPID:pve:1"})
    s = j.begin("start", {"vmid": 101}, undo=StopCT(vmid=101, node="pve"))
    j.failed(s, RuntimeError("start failed"))
    j.begin("lost", {"vmid": 102}, undo=DestroyCT(vmid=102, node="pve"))
    return j


def test_journal_round_trips_through_json() -> None:
    j = _journal()
    again = Journal.from_json(j.to_json())
    assert again == j and again.to_dict() == json.loads(j.to_json())
    assert isinstance(again.entries[1].undo, DestroyCT) and again.entries[2].status == "failed"


def test_undo_order_is_newest_first_and_skips_refused_steps() -> None:
    j = _journal()
    assert [e.step for e in j.undo_order()] == ["lost", "restore"]
    assert j.entries[2].undo is None and j.entries[2].error == "start failed"


def test_leftovers_name_what_is_not_undone() -> None:
    j = _journal()
    j.entries[1].status = JournalStatus.UNDONE
    assert j.leftovers() == ["CT 102 on node pve (destroy not done)"]
    j.entries[3].status = JournalStatus.UNDONE
    assert j.leftovers() == []


def test_failed_with_unknown_effect_keeps_undo() -> None:
    j = Journal("x")
    e = j.begin("restore", {}, undo=DestroyCT(vmid=5, node="pve"))
    j.failed(e, TimeoutError("lost"), keep_undo=True)
    assert list(j.undo_order()) == [e]


def test_unknown_status_rejected() -> None:
    with pytest.raises(ValueError, match="status"):
        JournalEntry.from_dict({"step": "x", "action": {}, "status": "bogus"})


def test_render_is_one_line_per_step() -> None:
    assert len(_journal().render().splitlines()) == 4


STATE = GuestState(
    vmid=101,
    node="pve",
    hostname="acme-web",
    mac="BC:24:11:A6:C0:DE",
    ipv4="127.77.0.9",
    status="running",
    cores=2,
    memory=2048,
    swap=512,
    rootfs_gib=10,
    mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
    host_keys={"ssh-ed25519": "SHA256:x"},
    host_public_keys={"ssh-ed25519": "ssh-ed25519 AAAAx"},
    settings={"onboot": True, "network": {"ip": "dhcp"}},
    pending_restart=("hostname",),
    archive="local:backup/a.tar.zst",
    owner="p/s/n",
    tags=("web",),
)


def test_guest_state_round_trip_is_json_safe_with_ints() -> None:
    data = json.loads(json.dumps(STATE.to_dict()))
    assert GuestState.from_dict(data) == STATE
    assert isinstance(data["vmid"], int) and isinstance(data["mounts"][0]["sizeGiB"], int)
    floats = {**data, "vmid": 101.0, "cores": 2.0}  # numbers may come back as floats
    assert GuestState.from_dict(floats) == STATE


def test_golden_state_round_trip() -> None:
    g = GoldenState(
        "local:backup/a.tar.zst",
        300,
        "BC:24:11:63:43:F4",
        "felhom-golden",
        "keyctl=1,nesting=1",
        True,
        "overlayfs",
        "1:10.0p1-7",
        "2026-06-09T20:41:10Z",
    )
    assert GoldenState.from_dict(json.loads(json.dumps(g.to_dict()))) == g


BASE: dict[str, Any] = dict(
    name="n",
    owner="p/s/n",
    node="pve",
    archive="local:backup/a.tar.zst",
    hostname="acme-web",
    cores=2,
    memory=2048,
    swap=512,
    rootfsStorage="local-lvm",
    rootfsGiB=10,
)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"hostname": "Acme_Web"}, "hostname"),
        ({"cores": 0}, "cores"),
        ({"memory": 8}, "memory"),
        ({"rootfsGiB": 1.5}, "rootfsGiB"),
        ({"vmid": 99}, "vmid"),
        ({"owner": ""}, "owner"),
        ({"owner": "a\nb"}, "owner"),
        ({"archive": "nocolon"}, "archive"),
        ({"tags": ["Bad Tag"]}, "tags[0]"),
        ({"mounts": [{"storage": "s1", "sizeGiB": 1, "path": "/a"}] * 2}, "mounts[1].path"),
        ({"mounts": [{"storage": "s1", "sizeGiB": 1, "path": "/a,b"}]}, "mounts[0].path"),
        ({"mounts": [{"storage": "s1", "sizeGiB": 1, "path": "/"}]}, "mounts[0].path"),
    ],
)
def test_guest_spec_from_inputs_names_the_field(over: dict[str, Any], field: str) -> None:
    """The engine's spec walks the same table as ``check``: one rule, one place."""
    with pytest.raises(ConfigError) as info:
        GuestSpec.from_inputs({**BASE, **over})
    assert info.value.field == field


def test_guest_spec_from_inputs_fills_the_table_defaults() -> None:
    spec = GuestSpec.from_inputs({k: v for k, v in BASE.items() if k != "hostname"})
    assert spec.hostname == "n" and spec.onboot is True and spec.network == {"ip": "dhcp"}
    assert spec.memory == 2048 and spec.rootfs_gib == 10


def test_golden_spec_defaults_follow_the_seed() -> None:
    g = GoldenSpec(name="g", owner="p/s/g", node="pve", template="local:vztmpl/debian-13.tar.zst")
    assert (g.hostname, g.rootfs_gib, g.cores, g.memory, g.bridge) == (
        "felhom-golden",
        8,
        2,
        2048,
        "vmbr0",
    )


def test_owner_tag_is_a_valid_pve_tag_and_stable() -> None:
    tag = owner_tag("felhom/dev/acme-web")
    assert tag == owner_tag("felhom/dev/acme-web") and tag.startswith("felhom-")
    assert tag != owner_tag("felhom/dev/acme-shop")


def test_owner_of_reads_the_marker_line() -> None:
    assert owner_of({"description": "note\nfelhom-owner=a/b/c \nfelhom-archive=x:y"}) == "a/b/c"
    assert owner_of({"description": None}) is None
    assert owner_of({}) is None
