"""Shared test data and a fake runtime for the resource providers (no PVE, no network)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pulumi.output import Unknown

from felhom_provider.reconcile.model import (
    FELHOM_TAG,
    GoldenSpec,
    GoldenState,
    GuestSpec,
    GuestState,
    owner_tag,
)
from felhom_provider.reconcile.roll import RollResult

OWNER = "felhom/dev/acme-web"
ARCHIVE = "local:backup/vzdump-lxc-9100-2026_06_09-20_41_10.tar.zst"
SECRET = "5ec2e7aa-0000-4e1e-b0b0-c0ffee000001"


def wire_inputs(**overrides: Any) -> dict[str, Any]:
    """Guest inputs as the engine sends them: every number a float."""
    base: dict[str, Any] = {
        "name": "acme-web",
        "owner": OWNER,
        "node": "pve1",
        "archive": ARCHIVE,
        "hostname": "acme-web",
        "cores": 2.0,
        "memory": 2048.0,
        "swap": 512.0,
        "rootfsStorage": "local-lvm",
        "rootfsGiB": 10.0,
        "mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/data"}],
        "bridge": "vmbr0",
        "tags": ["customer"],
    }
    base.update(overrides)
    return base


def config(**overrides: Any) -> dict[str, Any]:
    """The raw config a dynamic provider receives: namespaced keys, JSON text values."""
    base = {
        "felhom:pve": '{"endpoint": "https://127.0.0.1:8006", "node": "pve1", '
        '"tokenId": "felhom-agent@pve!agent", "insecureSkipTlsVerify": true}',
        "felhom:pveTokenSecret": SECRET,
        "felhom:guestSshPort": "2222",
    }
    base.update(overrides)
    return base


class FakeGuestEngine:
    """An in-memory guest engine that records calls; ``guests`` maps vmid -> state."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.rt = runtime

    def create(self, spec: GuestSpec) -> GuestState:
        self.rt.calls.append(("create", spec.name))
        if self.rt.fail_with is not None:
            raise self.rt.fail_with
        vmid = spec.vmid or 100 + len(self.rt.guests)
        state = GuestState(
            vmid=vmid,
            node=spec.node,
            hostname=spec.hostname,
            mac=f"BC:24:11:00:00:{vmid % 100:02X}",
            ipv4=f"127.0.100.{vmid % 250}",
            status="running",
            cores=spec.cores,
            memory=spec.memory,
            swap=spec.swap,
            rootfs_gib=spec.rootfs_gib,
            mounts=tuple(reversed(spec.mounts)),
            host_keys={
                "ssh-ed25519": f"SHA256:ed{vmid}",
                "ecdsa-sha2-nistp256": f"SHA256:ec{vmid}",
            },
            host_public_keys={
                "ssh-ed25519": f"ssh-ed25519 AAAAed{vmid}",
                "ecdsa-sha2-nistp256": f"ecdsa-sha2-nistp256 AAAAec{vmid}",
            },
            archive=spec.archive,
            owner=spec.owner,
            tags=tuple(sorted({FELHOM_TAG, owner_tag(spec.owner), *spec.tags})),
        )
        self.rt.guests[vmid] = state
        return state

    def read(self, vmid: int, owner: str, host_key_check: str = "handshake") -> GuestState | None:
        self.rt.calls.append(("read", vmid))
        return self.rt.guests.get(vmid)

    def update(self, vmid: int, spec: GuestSpec, old: GuestState) -> GuestState:
        self.rt.calls.append(("update", vmid))
        new = replace(
            old,
            hostname=spec.hostname,
            cores=spec.cores,
            memory=spec.memory,
            rootfs_gib=spec.rootfs_gib,
            mounts=spec.mounts,
        )
        self.rt.guests[vmid] = new
        return new

    def delete(self, vmid: int, owner: str) -> None:
        self.rt.calls.append(("delete", vmid))
        self.rt.guests.pop(vmid, None)


class FakeRollEngine:
    """An in-memory roll engine: the guest keeps everything but its archive."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.rt = runtime

    def roll(self, vmid: int, spec: GuestSpec, *, gate: Any = None) -> RollResult:
        self.rt.calls.append(("roll", (vmid, spec.archive, gate)))
        if self.rt.fail_with is not None:
            raise self.rt.fail_with
        new = replace(
            self.rt.guests[vmid], archive=spec.archive, rootfs_rebuilt_at="2026-11-29T21:00:00Z"
        )
        self.rt.guests[vmid] = new
        return RollResult(new, spec.archive, new.rootfs_rebuilt_at, host_keys_carried=True)


class FakeGoldenEngine:
    """An in-memory golden engine."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.rt = runtime

    def build(self, spec: GoldenSpec) -> GoldenState:
        self.rt.calls.append(("build", spec.template))
        state = GoldenState(
            archive=f"{spec.archive_storage}:backup/vzdump-lxc-9100-{len(self.rt.archives)}.tar.zst",
            size_bytes=298_000_000,
            golden_mac="BC:24:11:63:43:F4",
            golden_hostname=spec.hostname,
            features="nesting=1,keyctl=1",
            unprivileged=True,
            docker_driver="overlayfs",
            openssh_version="1:10.0p1-7",
            created_at="2026-06-09T20:41:10Z",
        )
        self.rt.archives[state.archive] = state
        return state

    def read(self, archive: str) -> GoldenState | None:
        return self.rt.archives.get(archive)

    def delete(self, archive: str) -> None:
        self.rt.calls.append(("delete-archive", archive))
        self.rt.archives.pop(archive, None)


class FakeRuntime:
    """Implements the provider ``Runtime`` protocol over the two fakes."""

    def __init__(self) -> None:
        self.guests: dict[int, GuestState] = {}
        self.archives: dict[str, GoldenState] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail_with: Exception | None = None
        self.progress: list[str] = []

    def guest_engine(self, node: str, progress: Any) -> FakeGuestEngine:
        self.progress_fn = progress
        return FakeGuestEngine(self)

    def roll_engine(self, node: str, progress: Any) -> FakeRollEngine:
        self.progress_fn = progress
        return FakeRollEngine(self)

    def golden_engine(self, node: str, progress: Any) -> FakeGoldenEngine:
        return FakeGoldenEngine(self)

    def mask(self, text: str) -> str:
        return text.replace(SECRET, "********")


def unknown() -> Any:
    """A preview-time unknown value, as ``check``/``diff`` receive it."""
    return Unknown()  # type: ignore[no-untyped-call]
