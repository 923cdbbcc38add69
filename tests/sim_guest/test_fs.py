"""The guest filesystem: symlinks, globbing, removal and lazy host keys."""

from __future__ import annotations

import pytest

from felhom_provider.sim.guest.fs import DIR, FILE, FsError, Node, VirtualFS
from felhom_provider.sim.guest.model import GuestModel
from tests.sim_guest.helpers import created_guest


def make() -> VirtualFS:
    fs = VirtualFS()
    fs.mkdir("/etc/ssh", parents=True)
    fs.mkdir("/usr/lib", parents=True)
    fs.symlink("usr/lib", "/lib")
    fs.write("/usr/lib/a.txt", "A")
    return fs


def test_symlinks_resolve_in_every_component() -> None:
    fs = make()
    assert fs.read("/lib/a.txt") == "A"
    assert fs.resolve("/lib/../etc") == "/usr/etc"  # ".." applies after following the link
    fs.symlink("/lib/a.txt", "/etc/link")
    assert fs.is_link("/etc/link") and fs.is_file("/etc/link")
    fs.remove("/etc/link")  # removes the link, not its target
    assert fs.read("/usr/lib/a.txt") == "A"


def test_symlink_loop_is_reported() -> None:
    fs = VirtualFS()
    fs.symlink("/b", "/a")
    fs.symlink("/a", "/b")
    with pytest.raises(FsError, match="Too many levels"):
        fs.read("/a")


def test_glob_skips_hidden_and_sorts() -> None:
    fs = make()
    for name in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub", ".hidden", "sshd_config"):
        fs.write(f"/etc/ssh/{name}", "x")
    assert fs.glob("/etc/ssh/ssh_host_*") == [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
    ]
    assert "/etc/ssh/.hidden" not in fs.glob("/etc/ssh/*")


def test_write_needs_parent_and_directories_need_recursive() -> None:
    fs = make()
    with pytest.raises(FsError, match="No such file"):
        fs.write("/nope/file", "x")
    with pytest.raises(FsError, match="Is a directory"):
        fs.remove("/etc")
    fs.remove("/etc", recursive=True)
    assert not fs.exists("/etc/ssh")


def test_lazy_key_pair_materialises_once_and_consistently() -> None:
    model = created_guest("lazy")
    node = model.fs.nodes["/etc/ssh/ssh_host_ed25519_key"]
    assert node.lazy_key == "ed25519" and node.data == ""
    public = model.fs.read("/etc/ssh/ssh_host_ed25519_key.pub")
    private = model.fs.read("/etc/ssh/ssh_host_ed25519_key")
    assert public.startswith("ssh-ed25519 ") and public.rstrip().endswith("root@lazy")
    assert "OPENSSH PRIVATE KEY" in private
    again = GuestModel.from_payload(model.to_payload())
    assert again.fs.read("/etc/ssh/ssh_host_ed25519_key.pub") == public


def test_payload_stores_only_changes_to_the_template() -> None:
    model = created_guest()
    payload = model.to_payload()
    assert "/usr/bin/apt-get" not in payload["fs"]  # unchanged template file
    assert "/etc/machine-id" not in payload["fs"]
    model.fs.put("/root/new", Node(FILE, "hi"))
    model.fs.remove("/var/log/dpkg.log")
    payload = model.to_payload()
    assert payload["fs"]["/root/new"] == [FILE, "hi", 0o644]
    assert "/var/log/dpkg.log" in payload["fs_removed"]
    back = GuestModel.from_payload(payload)
    assert back.fs.read("/root/new") == "hi" and not back.fs.exists("/var/log/dpkg.log")
    assert back.fs.nodes["/root"].kind == DIR
