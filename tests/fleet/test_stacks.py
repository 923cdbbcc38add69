"""Stack discovery from the config files and selection by names, globs and tags."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from felhom_provider.errors import ConfigError
from felhom_provider.fleet.stacks import UNKNOWN_NODE, Selection, discover, names, select
from felhom_provider.provider_main import worker_count

REPO = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, stacks: dict[str, dict[str, object]]) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: felhom\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for name, config in stacks.items():
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


FLEET: dict[str, dict[str, object]] = {
    "acme": {"felhom:pve": {"node": "pve1"}, "felhom:fleet": {"tags": ["gold", "eu"]}},
    "acme-2": {
        "felhom:pve": {"node": "pve2"},
        "felhom:fleet": {"tags": ["eu"]},
        "felhom:limits": {"restoresPerNode": 16},
    },
    "beta": {"felhom:pve": {"node": "pve1"}, "felhom:guestSshPort": "2222"},
    "gamma": {},
}


def test_discover_reads_node_and_tags(tmp_path: Path) -> None:
    found = {s.name: s for s in discover(project(tmp_path, FLEET))}
    assert sorted(found) == ["acme", "acme-2", "beta", "gamma"]
    assert (found["acme"].node, found["acme"].tags) == ("pve1", ("gold", "eu"))
    assert (found["gamma"].node, found["gamma"].tags) == (UNKNOWN_NODE, ())
    assert found["gamma"].width == worker_count({})
    assert found["acme-2"].width == 2 * 16 + 4
    assert (found["beta"].guest_ssh_port, found["gamma"].guest_ssh_port) == (2222, 22)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(), ["acme", "acme-2", "beta", "gamma"]),
        (Selection(patterns=("beta",)), ["beta"]),
        (Selection(patterns=("acme*",)), ["acme", "acme-2"]),
        (Selection(tags=("eu",)), ["acme", "acme-2"]),
        (Selection(tags=("eu", "gold")), ["acme"]),
        (Selection(patterns=("acme*", "gamma"), tags=("eu",)), ["acme", "acme-2"]),
        (Selection(exclude=("acme-*",)), ["acme", "beta", "gamma"]),
    ],
)
def test_select(tmp_path: Path, selection: Selection, expected: list[str]) -> None:
    assert names(select(discover(project(tmp_path, FLEET)), selection)) == expected


def test_a_pattern_matching_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no stack matches 'nope'"):
        select(discover(project(tmp_path, FLEET)), Selection(patterns=("nope",)))


def test_bad_tags_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Pulumi.bad.yaml: felhom:fleet.tags"):
        discover(project(tmp_path, {"bad": {"felhom:fleet": {"tags": "eu"}}}))


def test_the_repository_stacks_are_found() -> None:
    found = {s.name: s for s in discover(REPO)}
    assert {"dev", "example-customer"} <= set(found)
    # The commented example targets pve.example.invalid: only selected by its name.
    assert found["example-customer"].example and not found["dev"].example
    assert "example-customer" not in names(select(found.values(), Selection()))
    assert "example-customer" not in names(select(found.values(), Selection(("ex*",))))
    chosen = select(found.values(), Selection(("example-customer",)))
    assert names(chosen) == ["example-customer"]
