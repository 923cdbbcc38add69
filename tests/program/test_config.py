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
    assert cfg.golden.build.values["owner"] == "felhom/dev/golden"
    assert cfg.golden.build.values["reservedVmids"] == {"first": 9000, "last": 9099}
    names = [name for name, _ in cfg.guests]
    assert names == ["acme-web", "acme-db", "acme-ci"]
    web = dict(cfg.guests)["acme-web"].values
    assert web["owner"] == "felhom/dev/acme-web" and web["hostname"] == "acme-web"
    assert web["memory"] == 2048 and web["rootfsGiB"] == 10
    assert web["mounts"] == [{"storage": "local-lvm", "sizeGiB": 1, "path": "/mnt/data"}]
    # Stack-level keys reach every guest as inputs; defaults from the tables.
    assert web["protection"] is True and web["hostKeyCheck"] == "both"
    assert web["onboot"] is True and web["restarts"] == "immediate"
    ci = dict(cfg.guests)["acme-ci"].values
    assert ci["hostname"] == "ci" and ci["vmid"] == 4242 and ci["node"] == "pve1"
    assert cfg.settings["rollout"] == {"maxParallel": 1, "pauseOnFailure": True}
    assert cfg.settings["fleet"] == {"tags": []}


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw op@x"


def test_stack_level_keys_reach_the_guests() -> None:
    cfg = load(
        **{
            "felhom:sshAuthorizedKeys": [KEY],
            "felhom:hostKeyCheck": "nodeShell",
            "felhom:restarts": "deferred",
            "felhom:fleet": {"tags": ["eu", "small"]},
            "felhom:rollout": {"maxParallel": 4, "pauseOnFailure": False},
        }
    )
    web = dict(cfg.guests)["acme-web"].values
    assert web["operatorSshAuthorizedKeys"] == [KEY]
    assert web["hostKeyCheck"] == "nodeShell" and web["restarts"] == "deferred"
    assert cfg.settings["fleet"] == {"tags": ["eu", "small"]}
    assert cfg.settings["rollout"] == {"maxParallel": 4, "pauseOnFailure": False}


def test_without_a_node_shell_the_default_check_is_the_handshake() -> None:
    cfg = load(**{"felhom:nodeShell": None, "felhom:golden": {"archive": "local:backup/a.tar"}})
    assert dict(cfg.guests)["acme-web"].values["hostKeyCheck"] == "handshake"


def test_a_full_network_entry_parses() -> None:
    entry = {
        "name": "web",
        "network": {"ip": "127.0.60.5/24", "gw": "127.0.60.1", "vlan": 20, "firewall": True},
        "nameserver": ["127.0.0.53"],
        "searchdomain": "example.org",
        "startup": {"order": 2, "up": 30},
        "onboot": False,
        "pool": "customers",
        "sshAuthorizedKeys": [KEY],
    }
    web = dict(load(**guests(entry)).guests)["web"].values
    assert web["network"] == {
        "ip": "127.0.60.5/24",
        "gw": "127.0.60.1",
        "vlan": 20,
        "firewall": True,
    }
    assert web["startup"] == {"order": 2, "up": 30} and web["onboot"] is False


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
            guests({"name": "a", "mounts": [{"storage": "s1", "sizeGiB": 1, "path": "data"}]}),
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
        # Reserved and colliding names, full matches, cross-guest rules (issue findings).
        (guests({"name": "golden"}), "felhom:guests[0].name"),
        (guests({"name": "a", "hostname": "a\n"}), "felhom:guests[0].hostname"),
        (
            guests(
                {"name": "a", "network": {"ip": "127.0.60.5/24"}},
                {"name": "b", "network": {"ip": "127.0.60.5/16"}},
            ),
            "felhom:guests[1].network.ip",
        ),
        (
            guests(
                {"name": "a", "network": {"mac": "BC:24:11:00:00:01"}},
                {"name": "b", "network": {"mac": "bc:24:11:00:00:01"}},
            ),
            "felhom:guests[1].network.mac",
        ),
        (
            guests({"name": "a", "network": {"ip": "10.0.0.5/24", "gw": "10.0.9.1"}}),
            "felhom:guests[0].network.gw",
        ),
        (guests({"name": "a", "vmid": 9050}), "felhom:guests[0].vmid"),
        (
            guests({"name": "a", "vmid": 300}, {"name": "b", "import": 300}),
            "felhom:guests[1].import",
        ),
        (guests({"name": "a", "protection": False}), "felhom:guests[0].protection"),
        ({"felhom:hostKeyCheck": "sometimes"}, "felhom:hostKeyCheck"),
        ({"felhom:restarts": "never"}, "felhom:restarts"),
        ({"felhom:rollout": {"maxParallel": 0}}, "felhom:rollout.maxParallel"),
        ({"felhom:fleet": {"tags": ["Bad Tag"]}}, "felhom:fleet.tags[0]"),
        ({"felhom:sshAuthorizedKeys": ["ssh-ed25519 AAAA\n"]}, "felhom:sshAuthorizedKeys[0]"),
        (
            {"felhom:golden": {"build": {"template": "local:t", "buildVmid": 150}}},
            "felhom:golden.build.buildVmid",
        ),
        (
            {
                "felhom:golden": {
                    "build": {"template": "local:t", "reservedVmids": {"first": 9, "last": 1}}
                }
            },
            "felhom:golden.build.reservedVmids.first",
        ),
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


def test_a_stack_id_goes_into_every_ownership_marker() -> None:
    cfg = load(**{"felhom:stackId": "3f6c1e2a-9b7d"})
    assert dict(cfg.guests)["acme-web"].values["owner"] == "3f6c1e2a-9b7d:felhom/dev/acme-web"
    assert cfg.golden.build is not None
    assert cfg.golden.build.values["owner"] == "3f6c1e2a-9b7d:felhom/dev/golden"
    assert dict(load().guests)["acme-web"].values["owner"] == "felhom/dev/acme-web"
    with pytest.raises(ConfigError) as info:
        load(**{"felhom:stackId": "short"})
    assert info.value.field == "felhom:stackId"
