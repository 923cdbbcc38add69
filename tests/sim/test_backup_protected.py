"""Protected backups: vzdump ``protected=1``, ``PUT …/content/{volume}``, refused delete."""

from __future__ import annotations

from typing import Any

from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.conftest import proxmox_for
from tests.sim.helpers import create_golden, error_of, exitstatus, make_archive, task_log


def _content(client: Any, sim: SimServer, vmid: int = 9000) -> list[dict[str, Any]]:
    items = client.nodes(sim.state.node).storage("local").content.get(content="backup", vmid=vmid)
    return sorted(items, key=lambda i: (i["ctime"], i["volid"]))


def _protected_dump(client: Any, sim: SimServer, vmid: int = 9000) -> str:
    return str(
        client.nodes(sim.state.node).vzdump.post(
            vmid=str(vmid), mode="stop", compress="zstd", storage="local", protected=1
        )
    )


def test_vzdump_protected_marks_the_archive_and_says_so(
    sim: SimServer, sim_root: Any, sim_client: Any
) -> None:
    create_golden(sim_root, sim)
    upid = _protected_dump(sim_client, sim)
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert "INFO: marking backup as protected" in task_log(sim_client, sim, upid)
    (item,) = _content(sim_client, sim)
    assert item["protected"] == 1


def test_protected_needs_a_storage(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    exc = error_of(sim_root.nodes(sim.state.node).vzdump.post, vmid="9000", protected=1)
    assert exc.status_code == 400
    assert exc.errors == {"storage": "missing property required by 'protected'"}


def test_delete_of_a_protected_backup_fails_in_the_task_with_pves_text(
    sim: SimServer, sim_root: Any, sim_client: Any
) -> None:
    create_golden(sim_root, sim)
    assert exitstatus(sim_client, sim, _protected_dump(sim_client, sim)) == "OK"
    (item,) = _content(sim_client, sim)
    volid = item["volid"]
    content = sim_client.nodes(sim.state.node).storage("local").content
    # Content.pm answers the DELETE with a UPID; free_image refuses inside the worker.
    upid = content(volid).delete()
    volname = volid.split(":", 1)[1]
    assert exitstatus(sim_client, sim, upid) == (
        f"cannot remove protected volume '{volname}' on 'local'"
    )
    assert [i["volid"] for i in _content(sim_client, sim)] == [volid]
    assert content(volid).put(protected=0) is None
    assert "protected" not in _content(sim_client, sim)[0]
    assert exitstatus(sim_client, sim, content(volid).delete()) == "OK"
    assert _content(sim_client, sim) == []


def test_put_sets_and_clears_protection_and_notes(
    sim: SimServer, sim_root: Any, sim_client: Any
) -> None:
    archive = make_archive(sim_root, sim)
    content = sim_client.nodes(sim.state.node).storage("local").content
    content(archive).put(protected=1)
    content(archive).put(protected=1)  # already set: a no-op, as DirPlugin's flag file
    content(archive).put(notes="golden\nsecond line")
    (item,) = _content(sim_client, sim)
    assert (item["protected"], item["notes"]) == (1, "golden")
    # Without a storage prefix the volume is taken relative to {storage} (Content.pm).
    content(archive.split(":", 1)[1]).put(protected=0)
    assert "protected" not in _content(sim_client, sim)[0]


def test_put_refuses_a_volume_of_another_storage_and_non_backups(
    sim: SimServer, sim_root: Any
) -> None:
    archive = make_archive(sim_root, sim)
    node = sim_root.nodes(sim.state.node)
    exc = error_of(node.storage("local-lvm").content(archive).put, protected=0)
    assert exc.status_code == 400
    assert "storage ID mismatch (local != local-lvm)" in str((exc.errors or {}).get("volume"))
    rootfs = str(node.lxc(9000).config.get()["rootfs"]).split(",", 1)[0]
    exc = error_of(node.storage("local-lvm").content(rootfs).put, protected=1)
    assert (exc.status_code, exc.content) == (500, "only backups support attribute 'protected'")


def test_put_needs_read_access_to_the_volume(sim: SimServer, sim_root: Any, sim_weak: Any) -> None:
    archive = make_archive(sim_root, sim)
    exc = error_of(
        sim_weak.nodes(sim.state.node).storage("local").content(archive).put, protected=0
    )
    assert (exc.status_code, exc.content) == (
        403, "Permission check failed (/storage/local, Datastore.AllocateSpace)"
    )  # fmt: skip


def test_protected_backups_per_guest_are_limited_without_datastore_allocate(
    sim_factory: Any,
) -> None:
    sim = sim_factory(manual_clock=True)  # each archive in its own second: distinct names
    root, agent = proxmox_for(sim, "root"), proxmox_for(sim, "agent")
    node = sim.state.node

    def done(upid: str) -> str:
        sim.advance(60)
        return exitstatus(agent, sim, upid)

    assert done(create_golden_async(root, sim)) == "OK"
    for _ in range(5):
        assert done(_protected_dump(agent, sim)) == "OK"
    limit = "The number of protected backups per guest is limited to 5 on storage 'local'"
    upid = _protected_dump(agent, sim)
    assert done(upid) == "job errors"
    assert f"ERROR: Backup of VM 9000 failed - {limit}" in task_log(agent, sim, upid)
    # An unprotected sixth archive cannot be protected either; root (Datastore.Allocate)
    # has no limit.
    assert done(agent.nodes(node).vzdump.post(vmid="9000", mode="stop", storage="local")) == "OK"
    sixth = next(i["volid"] for i in _content(agent, sim) if not i.get("protected"))
    exc = error_of(agent.nodes(node).storage("local").content(sixth).put, protected=1)
    assert (exc.status_code, exc.content) == (500, limit)
    root.nodes(node).storage("local").content(sixth).put(protected=1)
    assert len(_content(agent, sim)) == 6 and all(i.get("protected") for i in _content(agent, sim))


def create_golden_async(root: Any, sim: SimServer) -> str:
    """POST the build CT as root@pam (manual clock: the caller advances); the UPID."""
    return str(
        root.nodes(sim.state.node).lxc.post(
            vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:8"
        )
    )
