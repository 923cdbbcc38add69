"""``GoldenImageProvider``: build, refresh, bookkeeping updates and ``retain`` on delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from felhom_provider.resources.golden_image import GoldenImageArgs, GoldenImageProvider
from tests.unit.resources._fakes import FakeRuntime, config


def recipe(**overrides: Any) -> dict[str, Any]:
    props = GoldenImageArgs(
        {
            "owner": "felhom/dev/golden",
            "node": "pve1",
            "template": "local:vztmpl/debian-13.tar.zst",
        }
    ).to_props("golden")
    props.update(rootfsGiB=8.0, cores=2.0, memory=2048.0, revision=1.0)
    props.update(overrides)
    return {k: v for k, v in props.items() if v is not None}


def build(provider: GoldenImageProvider, **overrides: Any) -> tuple[str, dict[str, Any]]:
    result = provider.create(provider.check({}, recipe(**overrides)).inputs)
    assert result.outs is not None
    return result.id, result.outs


@pytest.fixture
def rt() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def provider(rt: FakeRuntime) -> GoldenImageProvider:
    p = GoldenImageProvider()
    p.configure(ConfigureRequest(Config(raw_config=config(), project_name="felhom")))
    p._holder.install(rt)
    return p


def test_create_builds_and_reports_the_engine_facts(provider: GoldenImageProvider) -> None:
    inputs = provider.check({}, recipe()).inputs
    assert type(inputs["rootfsGiB"]) is int
    id_, outs = build(provider)
    assert id_ == outs["archive"]
    assert outs["goldenMac"] == "BC:24:11:63:43:F4"
    assert outs["features"] == "nesting=1,keyctl=1"
    assert outs["sizeBytes"] == 298_000_000
    assert outs["template"] == inputs["template"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"template": "debian"}, "template"),
        ({"hostname": "Golden_1"}, "hostname"),
        ({"rootfsGiB": -1.0}, "rootfsGiB"),
        ({"buildVmid": 5.0}, "buildVmid"),
        ({"retain": "yes"}, "retain"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_recipe_fails_naming_the_field(
    provider: GoldenImageProvider, overrides: dict[str, Any], field: str
) -> None:
    failures = provider.check({}, recipe(**overrides)).failures
    assert [f.property for f in failures] == [field]


def test_retain_keeps_the_archive(provider: GoldenImageProvider, rt: FakeRuntime) -> None:
    id_, outs = build(provider, retain=True)
    provider.delete(id_, outs)
    assert id_ in rt.archives


def test_delete_removes_the_archive(provider: GoldenImageProvider, rt: FakeRuntime) -> None:
    id_, outs = build(provider)
    provider.delete(id_, outs)
    assert id_ not in rt.archives


def test_update_keeps_the_facts(provider: GoldenImageProvider) -> None:
    id_, outs = build(provider)
    news = provider.check(outs, recipe(retain=True)).inputs
    updated = provider.update(id_, outs, news).outs
    assert updated is not None
    assert updated["retain"] is True and updated["archive"] == id_
    assert "__provider" not in updated


def test_read_of_a_vanished_archive_drops_it(
    provider: GoldenImageProvider, rt: FakeRuntime
) -> None:
    id_, outs = build(provider)
    again = provider.read(id_, outs).outs
    assert again is not None and again["archive"] == id_
    rt.archives.clear()
    gone = provider.read(id_, outs)
    assert gone.id is None and gone.outs == {}


def test_read_reports_no_drift_with_or_without_build_facts(
    provider: GoldenImageProvider, rt: FakeRuntime
) -> None:
    id_, outs = build(provider)
    # The archive's notes carry the build facts: read reports them, equal to the build's.
    again = provider.read(id_, outs).outs
    assert again is not None
    assert (again["dockerDriver"], again["opensshVersion"]) == ("overlayfs", "1:10.0p1-7")
    assert again == outs
    # An archive without notes (made before they were written): state keeps what it knew.
    rt.archives[id_] = replace(rt.archives[id_], docker_driver="", openssh_version="")
    older = provider.read(id_, outs).outs
    assert older == outs
    # Notes that name another driver are reported as they are (real drift).
    rt.archives[id_] = replace(rt.archives[id_], docker_driver="vfs")
    assert (provider.read(id_, outs).outs or {})["dockerDriver"] == "vfs"
