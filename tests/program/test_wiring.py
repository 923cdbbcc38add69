"""Program wiring under ``pulumi.runtime.set_mocks``: resources, inputs, protection, exports."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.config import set_all_config

from felhom_provider.program import declare, load_program_config
from felhom_provider.resources import FelhomGuest
from tests.program._config import SECRET, stack_config

REPO = Path(__file__).resolve().parents[2]
GUEST_TYPE = "pulumi-python:dynamic/felhom:Guest"
GOLDEN_TYPE = "pulumi-python:dynamic/felhom:GoldenImage"
IDENTITY_TYPE = "pulumi-python:dynamic/felhom:StackIdentity"
STACK_ID = "0123456789abcdef0123456789abcdef"
ARCHIVE = "local:backup/vzdump-lxc-9100-2026_06_09-20_41_10.tar.zst"


class Mocks(pulumi.runtime.Mocks):
    """Answers registrations like the providers would: inputs echoed plus computed outputs."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        inputs = dict(args.inputs)
        if args.typ == IDENTITY_TYPE:
            stack_id = inputs.get("initial") or STACK_ID
            return stack_id, {"stackId": stack_id}
        if args.typ == GOLDEN_TYPE:
            return ARCHIVE, {**inputs, "archive": ARCHIVE, "goldenMac": "BC:24:11:63:43:F4"}
        if args.typ == GUEST_TYPE:
            vmid = 100 + len(self.registered)
            return str(vmid), {
                **inputs,
                "vmid": vmid,
                "mac": f"BC:24:11:00:00:{vmid:02X}",
                "ipv4": f"127.0.100.{vmid}",
                "hostKeys": {"ssh-ed25519": f"SHA256:k{vmid}"},
                "hostPublicKeys": {"ssh-ed25519": f"ssh-ed25519 AAAA{vmid}"},
                "knownHosts": [f"127.0.100.{vmid} ssh-ed25519 AAAA{vmid}"],
                "hostKeysVerified": True,
                "sshPort": 22,
                "sshUser": "root",
                "pendingRestart": [],
                "state": "running",
            }
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {
                **inputs,
                "outputs": {"goldenImage": {"archive": "local:backup/ref"}},
            }
        raise AssertionError(f"unexpected resource {args.typ}")

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@pytest.fixture
def mocks() -> Iterator[Mocks]:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="felhom", stack="dev", preview=False)
    yield m
    set_all_config({}, [])


def resolve(output: Any) -> Any:
    """Await an output inside the mocks' event loop (``pulumi.runtime.test`` style)."""
    box: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        return pulumi.Output.from_input(output).apply(lambda v: box.setdefault("v", v))

    run()
    return box["v"]


def load(**overrides: Any):
    config = stack_config(**overrides)
    return load_program_config(config.get, project="felhom", stack="dev", secret_is_set=True)


def test_build_declares_golden_and_one_guest_each(mocks: Mocks) -> None:
    golden, guests, stack_id = declare(load())
    exported = resolve({"golden": golden, "guests": guests, "stackId": stack_id})
    types = [a.typ for a in mocks.registered]
    assert types.count(GOLDEN_TYPE) == 1 and types.count(GUEST_TYPE) == 3
    assert types.count(IDENTITY_TYPE) == 1
    guest_inputs = {a.name: a.inputs for a in mocks.registered if a.typ == GUEST_TYPE}
    web = guest_inputs["acme-web"]
    assert web["archive"] == ARCHIVE, "guests take the golden image's archive output"
    # Every marker carries the id the stack identity drew (the identity comes first).
    assert exported["stackId"] == STACK_ID
    assert web["owner"] == f"{STACK_ID}:felhom/dev/acme-web"
    golden_inputs = next(a.inputs for a in mocks.registered if a.typ == GOLDEN_TYPE)
    assert golden_inputs["owner"] == f"{STACK_ID}:felhom/dev/golden"
    assert exported["guests"]["acme-web"]["owner"] == web["owner"]
    assert web["mounts"] == [{"storage": "local-lvm", "sizeGiB": 1, "path": "/mnt/data"}]
    assert "__provider" in web
    assert guest_inputs["acme-ci"]["vmid"] == 4242
    # One name end to end: the stack key is the input and the output name.
    assert web["memory"] == 2048 and web["rootfsGiB"] == 10 and web["onboot"] is True
    assert exported["golden"]["archive"] == ARCHIVE and exported["golden"]["source"] == "build"
    entry = exported["guests"]["acme-web"]
    assert set(entry) >= {
        "vmid",
        "node",
        "hostname",
        "mac",
        "ipv4",
        "hostKeys",
        "archive",
        "state",
        "cores",
        "memory",
        "rootfsGiB",
        "mounts",
        "owner",
        "tags",
        "sshPort",
        "sshUser",
        "hostPublicKeys",
        "knownHosts",
        "hostKeysVerified",
        "pendingRestart",
    }
    assert entry["sshUser"] == "root" and entry["knownHosts"][0].startswith("127.0.100.")
    assert entry["mounts"] == [{"storage": "local-lvm", "sizeGiB": 1, "path": "/mnt/data"}]
    assert entry["hostKeys"]["ssh-ed25519"].startswith("SHA256:")


def test_guests_are_protected_by_default_and_the_switch_turns_it_off(mocks: Mocks) -> None:
    created: list[FelhomGuest] = []
    original = FelhomGuest.__init__

    def spy(self: FelhomGuest, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created.append(self)

    FelhomGuest.__init__ = spy  # type: ignore[method-assign]
    try:
        declare(load())
        declare(load(**{"felhom:protect": "false", "felhom:golden": {"archive": ARCHIVE}}))
    finally:
        FelhomGuest.__init__ = original  # type: ignore[method-assign]
    assert [g._protect for g in created] == [True] * 3 + [False] * 3


def test_archive_by_volid_declares_no_golden_image(mocks: Mocks) -> None:
    golden, _, _ = declare(load(**{"felhom:golden": {"archive": ARCHIVE}}))
    assert resolve(golden) == {"source": "archive", "archive": ARCHIVE}
    assert GOLDEN_TYPE not in [a.typ for a in mocks.registered]


def test_archive_from_another_stack(mocks: Mocks) -> None:
    golden, _, _ = declare(load(**{"felhom:golden": {"fromStack": "org/felhom/golden"}}))
    exported = resolve(golden)
    assert exported == {
        "source": "stack",
        "stack": "org/felhom/golden",
        "archive": "local:backup/ref",
    }
    guest_inputs = [a.inputs for a in mocks.registered if a.typ == GUEST_TYPE]
    assert {g["archive"] for g in guest_inputs} == {"local:backup/ref"}


def test_an_explicit_stack_id_wins_and_seeds_the_identity(mocks: Mocks) -> None:
    explicit = "3f6c1e2a-9b7d-4c1e"
    _, guests, stack_id = declare(load(**{"felhom:stackId": explicit}))
    exported = resolve({"guests": guests, "stackId": stack_id})
    assert exported["stackId"] == explicit
    assert exported["guests"]["acme-db"]["owner"] == f"{explicit}:felhom/dev/acme-db"
    identity = next(a for a in mocks.registered if a.typ == IDENTITY_TYPE)
    assert identity.name == "stack" and identity.inputs["initial"] == explicit


def test_main_rejects_bad_config_naming_the_key(mocks: Mocks) -> None:
    config = stack_config(**{"felhom:guests": [{"name": "a", "hostname": "Bad_Name"}]})
    set_all_config(config, ["felhom:pveTokenSecret"])
    with pytest.raises(pulumi.RunError, match=r"felhom:guests\[0\]\.hostname"):
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")


def test_main_requires_the_token_as_a_secret(mocks: Mocks) -> None:
    set_all_config(stack_config(), [])
    with pytest.raises(pulumi.RunError, match="felhom:pveTokenSecret") as info:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
    assert SECRET not in str(info.value)


def test_main_declares_the_stack(mocks: Mocks) -> None:
    set_all_config(stack_config(), ["felhom:pveTokenSecret"])

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> None:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")

    run()
    types = [a.typ for a in mocks.registered]
    assert types.count(GUEST_TYPE) == 3 and types.count(IDENTITY_TYPE) == 1
