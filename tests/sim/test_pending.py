"""``PUT …/config`` on a running CT: hot-plug, fast-plug and pending, as ``Config.pm`` does."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim.helpers import config, error_of, exitstatus, make_archive, restore

# (parameters, applied at once on a running CT?)
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"memory": 1024}, True),
    ({"swap": 256}, True),
    ({"cpulimit": 2}, True),
    ({"cpuunits": 200}, True),
    ({"cores": 4}, True),
    ({"hostname": "renamed"}, True),
    ({"onboot": 1}, True),
    ({"startup": "order=2,up=5"}, True),
    ({"protection": 1}, True),
    ({"tags": "a;b"}, True),
    ({"description": "marker"}, True),
    ({"net0": "name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:00:00:01,tag=20"}, True),
    ({"mp1": "local-lvm:1,mp=/srv/new"}, True),
    ({"nameserver": "127.0.0.53"}, False),
    ({"searchdomain": "example.org"}, False),
    ({"timezone": "UTC"}, False),
    ({"mp0": "local-lvm:vm-141-disk-1,mp=/srv/moved,size=1G"}, False),
    ({"delete": "mp0"}, False),
    ({"delete": "swap"}, True),
]


@pytest.fixture
def running(sim: SimServer) -> Any:
    """CT 141 (mp0 on /srv/data) running; returns the agent client."""
    root = proxmox_for(sim, "root")
    archive = make_archive(root, sim)
    client = proxmox_for(sim, "agent")
    upid = restore(client, sim, archive, 141, rootfs="local-lvm:8", mp0="local-lvm:1,mp=/srv/data")
    assert exitstatus(client, sim, upid) == "OK"
    assert exitstatus(client, sim, client.nodes(sim.state.node).lxc(141).status.start.post())
    return client


def _pending_keys(client: Any, sim: SimServer) -> dict[str, dict[str, Any]]:
    items = client.nodes(sim.state.node).lxc(141).pending.get()
    return {i["key"]: i for i in items if "pending" in i or "delete" in i}


@pytest.mark.parametrize(("params", "hot"), CASES, ids=[str(c[0]) for c in CASES])
def test_running_ct_hotplug_rules(
    sim: SimServer, running: Any, params: dict[str, Any], hot: bool
) -> None:
    ct = running.nodes(sim.state.node).lxc(141)
    ct.config.put(**params)
    key = str(params.get("delete", next(iter(params))))
    pending = _pending_keys(running, sim)
    assert (key not in pending) == hot, pending
    current = ct.config.get(current=1)
    merged = ct.config.get()
    if "delete" in params:
        assert (key in current) == (not hot)
        assert key not in merged
    else:
        assert (str(current.get(key)) == str(merged[key])) == hot
    # Everything pending is applied by the next start.
    assert exitstatus(running, sim, ct.status.stop.post()) == "OK"
    assert exitstatus(running, sim, ct.status.start.post()) == "OK"
    assert _pending_keys(running, sim) == {}
    assert ct.config.get(current=1) == ct.config.get()


def test_pending_item_shape_and_revert(sim: SimServer, running: Any) -> None:
    ct = running.nodes(sim.state.node).lxc(141)
    ct.config.put(nameserver="127.0.0.53", delete="mp0")
    items = {i["key"]: i for i in ct.pending.get()}
    assert items["nameserver"] == {"key": "nameserver", "pending": "127.0.0.53"}
    assert items["mp0"]["delete"] == 1 and items["mp0"]["value"].startswith("local-lvm:")
    assert items["digest"]["value"] == ct.config.get()["digest"]
    assert "[pve:pending]" in sim.state.cts[141].text()
    audit = {c["vmid"]: c for c in sim.audit()["cts"]}
    assert audit[141]["pending"] == ["delete", "nameserver"]
    sim.restart()  # the pending section is part of the pct.conf on disk
    ct = proxmox_for(sim, "agent").nodes(sim.state.node).lxc(141)
    assert {i["key"] for i in ct.pending.get() if "pending" in i} == {"nameserver"}
    ct.config.put(revert="nameserver,mp0")
    assert _pending_keys(proxmox_for(sim, "agent"), sim) == {}


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        (
            {"delete": "memory", "memory": 512},
            {"delete": "you can't use '-memory' and -delete memory' at the same time"},
        ),
        (
            {"revert": "memory", "memory": 512},
            {"revert": "you can't use '-memory' and '-revert memory' at the same time"},
        ),
        (
            {"delete": "swap", "revert": "swap"},
            {"delete": "you can't use '-delete swap' and '-revert swap' at the same time"},
        ),
    ],
)
def test_delete_revert_parameter_clashes(
    sim: SimServer, running: Any, params: dict[str, Any], errors: dict[str, str]
) -> None:
    exc = error_of(running.nodes(sim.state.node).lxc(141).config.put, **params)
    assert (exc.status_code, exc.errors) == (400, errors)


def test_digest_mismatch_refused(sim: SimServer, running: Any) -> None:
    ct = running.nodes(sim.state.node).lxc(141)
    exc = error_of(ct.config.put, memory=1024, digest="0" * 40)
    assert exc.content == "detected modified configuration - file changed by other user? Try again."
    ct.config.put(memory=1024, digest=ct.config.get()["digest"])
    assert config(running, sim, 141)["memory"] == 1024


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"delete": "mp0"}, "can't remove CT 141 drive 'mp0' - protection mode enabled"),
        ({"delete": "unused0"}, "can't remove CT 141 drive 'unused0' - protection mode enabled"),
        (
            {"mp0": "local-lvm:2,mp=/srv/data"},
            "can't update CT 141 drive 'mp0' - protection mode enabled",
        ),
    ],
)
def test_protection_blocks_disk_removal(
    sim: SimServer, running: Any, params: dict[str, Any], message: str
) -> None:
    ct = running.nodes(sim.state.node).lxc(141)
    assert exitstatus(running, sim, ct.status.stop.post()) == "OK"
    ct.config.put(unused0="local-lvm:vm-141-disk-1")
    ct.config.put(protection=1)
    exc = error_of(ct.config.put, **params)
    assert (exc.status_code, exc.content) == (500, message)
    exc = error_of(ct.delete)
    assert exc.content == "can't remove CT 141 - protection mode enabled"
    ct.config.put(delete="protection")
    ct.config.put(**params)
