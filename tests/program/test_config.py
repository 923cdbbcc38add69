"""``load_program_config``: the typed stack config, and errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.program import load_program_config
from tests.program._config import SECRET, stack_config


def load(**overrides: Any):
    config = stack_config(**overrides)
    return load_program_config(config.get, project="felhom", stack="dev", secret_is_set=True)


def guests(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"felhom:guests": list(entries)}


def test_valid_config() -> None:
    cfg = load()
    assert cfg.node == "pve1" and cfg.protect is True
    assert cfg.golden.kind == "build" and cfg.golden.build is not None
    assert cfg.golden.build.owner == "felhom/dev/golden"
    names = [name for name, _ in cfg.guests]
    assert names == ["acme-web", "acme-db", "acme-ci"]
    web = dict(cfg.guests)["acme-web"]
    assert web.owner == "felhom/dev/acme-web" and web.hostname == "acme-web"
    assert web.memory_mib == 2048 and web.rootfs_gib == 10
    assert web.mounts[0].size_gib == 1 and web.mounts[0].path == "/mnt/data"
    ci = dict(cfg.guests)["acme-ci"]
    assert ci.hostname == "ci" and ci.pinned_vmid == 4242 and ci.node == "pve1"


def test_golden_sources() -> None:
    archive = load(**{"felhom:golden": {"archive": "local:backup/vzdump-lxc-1.tar.zst"}})
    assert archive.golden.kind == "archive"
    ref = load(**{"felhom:golden": {"fromStack": "organization/felhom/golden"}})
    assert ref.golden.kind == "stack" and ref.golden.output == "goldenImage"
    ref = load(**{"felhom:golden": {"fromStack": {"stack": "o/p/s", "output": "image"}}})
    assert ref.golden.stack == "o/p/s" and ref.golden.output == "image"


def test_protect_switch_and_no_guests() -> None:
    assert load(**{"felhom:protect": "false"}).protect is False
    assert load(**{"felhom:guests": None}).guests == ()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (guests({"name": "a", "hostname": "Bad_Name"}), "felhom:guests[0].hostname"),
        (guests({"name": "a"}, {"name": "b", "memory": -1}), "felhom:guests[1].memory"),
        (
            guests({"name": "a", "mounts": [{"storage": "s", "sizeGiB": 1, "path": "data"}]}),
            "felhom:guests[0].mounts[0].path",
        ),
        (
            guests({"name": "a", "mounts": [{"storage": "local", "sizeGiB": 0, "path": "/d"}]}),
            "felhom:guests[0].mounts[0].sizeGiB",
        ),
        (guests({"name": "a", "rootfsGiB": 1.5}), "felhom:guests[0].rootfsGiB"),
        (guests({"name": "a", "vmid": 5}), "felhom:guests[0].vmid"),
        (guests({"name": "a", "colour": "red"}), "felhom:guests[0].colour"),
        (guests({"hostname": "a"}), "felhom:guests[0].name"),
        (guests({"name": "a"}, {"name": "a"}), "felhom:guests[1].name"),
        (guests({"name": "a"}, {"name": "b", "hostname": "a"}), "felhom:guests[1].hostname"),
        ({"felhom:guests": {"name": "a"}}, "felhom:guests"),
        ({"felhom:golden": None}, "felhom:golden"),
        ({"felhom:golden": {"archive": "x:y", "build": {"template": "a:b"}}}, "felhom:golden"),
        ({"felhom:golden": {"archive": "nocolon"}}, "felhom:golden.archive"),
        (
            {"felhom:golden": {"build": {"template": "local:t", "cores": 0}}},
            "felhom:golden.build.cores",
        ),
        (
            {"felhom:golden": {"build": {"template": "local:t", "flavour": 1}}},
            "felhom:golden.build.flavour",
        ),
        ({"felhom:golden": {"build": {}}}, "felhom:golden.build.template"),
        ({"felhom:golden": {"fromStack": {"output": "x"}}}, "felhom:golden.fromStack.stack"),
        ({"felhom:protect": "maybe"}, "felhom:protect"),
        ({"felhom:pve": None}, "felhom:pve"),
        (
            {"felhom:pve": {"endpoint": "https://h:8006", "node": "n", "tokenId": "u@pve!t"}},
            "felhom:pve",
        ),
    ],
)
def test_errors_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**overrides)
    assert info.value.field == key, str(info.value)


def test_the_secret_is_never_read() -> None:
    config = stack_config()
    seen: list[str] = []

    def get(key: str) -> Any:
        seen.append(key)
        return config.get(key)

    load_program_config(get, project="felhom", stack="dev", secret_is_set=True)
    assert "felhom:pveTokenSecret" not in seen
    with pytest.raises(ConfigError) as info:
        load_program_config(get, project="felhom", stack="dev", secret_is_set=False)
    assert info.value.field == "felhom:pveTokenSecret"
    assert SECRET not in str(info.value)
