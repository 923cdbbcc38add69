"""``FelhomGuestProvider`` CRUD called directly, with wire-shaped values and a fake engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from felhom_provider.errors import ConfigError, FelhomError, PveError
from felhom_provider.provider_process.engine_log import engine_log, resource_urn
from felhom_provider.reconcile import rollout
from felhom_provider.resources.guest import FelhomGuestProvider
from tests.unit.resources._fakes import (
    OWNER,
    SECRET,
    FakeRuntime,
    config,
    unknown,
    wire_inputs,
)


@pytest.fixture
def rt() -> Iterator[FakeRuntime]:
    rollout.reset()  # the gates are per provider process, i.e. per `pulumi up`
    yield FakeRuntime()
    rollout.reset()


@pytest.fixture
def provider(rt: FakeRuntime) -> FelhomGuestProvider:
    p = FelhomGuestProvider()
    p.configure(ConfigureRequest(Config(raw_config=config(), project_name="felhom")))
    p._holder.install(rt)
    return p


def created(provider: FelhomGuestProvider) -> tuple[str, dict[str, Any]]:
    inputs = provider.check({}, wire_inputs()).inputs
    result = provider.create(inputs)
    assert result.outs is not None
    return result.id, result.outs


def test_create_returns_vmid_id_and_every_input_plus_computed_outputs(
    provider: FelhomGuestProvider,
) -> None:
    inputs = provider.check({}, wire_inputs()).inputs
    id_, outs = created(provider)
    assert id_ == "100"
    for key, value in inputs.items():
        assert outs[key] == value, key
    assert outs["vmid"] == 100 and type(outs["vmid"]) is int
    assert outs["mac"].startswith("BC:24:11:")
    assert outs["ipv4"] == "127.0.100.100"
    assert outs["hostKeys"]["ssh-ed25519"] == "SHA256:ed100"
    assert outs["state"] == "running"
    assert outs["tags"] == ["customer"], "engine tags (felhom, owner hash) stay out of outputs"


def test_second_up_is_a_no_op(provider: FelhomGuestProvider) -> None:
    _, outs = created(provider)
    news = provider.check(outs, wire_inputs()).inputs
    assert provider.diff("100", outs, news).changes is False


def test_update_applies_and_keeps_all_outputs(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    news = provider.check(outs, wire_inputs(cores=4.0, hostname="acme-www")).inputs
    result = provider.update(id_, outs, news)
    assert result.outs is not None
    assert result.outs["cores"] == 4 and result.outs["hostname"] == "acme-www"
    assert result.outs["mac"] == outs["mac"] and result.outs["vmid"] == outs["vmid"]
    assert ("update", 100) in rt.calls


def test_read_reports_drift_and_returns_inputs(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    rt.guests[100] = replace(rt.guests[100], hostname="changed-behind-our-back")
    result = provider.read(id_, outs)
    assert result.id == id_
    assert result.outs is not None and result.inputs is not None
    assert result.outs["hostname"] == "changed-behind-our-back"
    assert result.inputs["hostname"] == "changed-behind-our-back"
    assert "mac" not in result.inputs and "__provider" not in result.inputs


def test_read_of_a_vanished_guest_drops_it(provider: FelhomGuestProvider, rt: FakeRuntime) -> None:
    id_, outs = created(provider)
    rt.guests.clear()
    result = provider.read(id_, outs)
    assert result.id is None and result.outs == {}


def test_delete_calls_the_engine_with_the_owner(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    provider.delete(id_, outs)
    assert rt.calls[-1] == ("delete", 100)
    provider.delete(id_, outs)  # gone already: still fine


def test_owner_in_update_is_the_one_in_state(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    news = {**provider.check(outs, wire_inputs(cores=3.0)).inputs, "owner": "x/y/z"}
    result = provider.update(id_, outs, news)
    assert result.outs is not None
    assert rt.guests[100].owner == OWNER


def test_errors_that_carry_the_secret_are_masked(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    rt.fail_with = PveError(f"auth failed for token secret {SECRET}")
    inputs = provider.check({}, wire_inputs()).inputs
    with pytest.raises(FelhomError) as info:
        provider.create(inputs)
    assert SECRET not in str(info.value)
    assert "********" in str(info.value)


def test_errors_without_secrets_pass_unchanged(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    rt.fail_with = PveError("CT 100 already exists", status=500)
    with pytest.raises(PveError, match="already exists"):
        provider.create(provider.check({}, wire_inputs()).inputs)


def test_missing_config_fails_crud_naming_the_key_but_not_check() -> None:
    p = FelhomGuestProvider()
    p.configure(ConfigureRequest(Config(raw_config={}, project_name="felhom")))
    assert p.check({}, wire_inputs()).failures == []
    with pytest.raises(ConfigError, match="felhom:pve"):
        p.create(p.check({}, wire_inputs()).inputs)


def test_progress_lines_go_to_stderr_masked(
    provider: FelhomGuestProvider, rt: FakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    created(provider)
    rt.progress_fn(f"acme-web: restoring with {SECRET}")
    err = capsys.readouterr().err
    assert "felhom guest acme-web: ready: vmid 100" in err
    assert SECRET not in err and "********" in err


def test_step_lines_target_the_resource_urn() -> None:
    assert (
        resource_urn("felhom/dev/acme-web", "pulumi-python:dynamic/felhom:Guest")
        == "urn:pulumi:dev::felhom::pulumi-python:dynamic/felhom:Guest::acme-web"
    )
    assert resource_urn("not-an-owner", "t") is None
    # A stack id in the marker does not change the URN.
    assert (
        resource_urn("3f6c1e2a-9b7d:felhom/dev/acme-web", "t")
        == "urn:pulumi:dev::felhom::t::acme-web"
    )
    # Outside the engine's plugin process there is no engine to log to.
    assert engine_log("urn:pulumi:dev::felhom::t::n", "hello") is False


def test_refresh_keeps_the_last_verified_keys_and_says_so(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    assert outs["hostKeysVerified"] is True and outs["sshUser"] == "root"
    assert outs["knownHosts"][0] == "127.0.100.100 ecdsa-sha2-nistp256 AAAAec100"
    rt.guests[100] = replace(rt.guests[100], host_public_keys={}, host_keys={}, status="stopped")
    result = provider.read(id_, outs)
    assert result.outs is not None
    assert result.outs["hostPublicKeys"] == outs["hostPublicKeys"]
    assert result.outs["hostKeys"] == outs["hostKeys"]
    assert result.outs["hostKeysVerified"] is False


NEW_ARCHIVE = "local:backup/vzdump-lxc-9101-2026_11_29-20_00_00.tar.zst"


def test_a_new_archive_rolls_first_then_updates_in_place(
    provider: FelhomGuestProvider, rt: FakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    id_, outs = created(provider)
    news = provider.check(outs, wire_inputs(archive=NEW_ARCHIVE, cores=4.0)).inputs
    assert provider.diff(id_, outs, news).replaces == []
    result = provider.update(id_, outs, news)
    assert result.outs is not None
    names = [c[0] for c in rt.calls]
    assert names[-2:] == ["roll", "update"]  # the roll first, then the in-place changes
    roll_vmid, roll_archive, gate = rt.calls[-2][1]
    assert (roll_vmid, roll_archive) == (100, NEW_ARCHIVE)
    assert gate.stack == "felhom/dev" and gate.settings.max_parallel == 1
    assert result.outs["archive"] == NEW_ARCHIVE and result.outs["cores"] == 4
    assert result.outs["rootfsRebuiltAt"] == "2026-11-29T21:00:00Z"
    assert (result.outs["vmid"], result.outs["mac"]) == (outs["vmid"], outs["mac"])
    assert result.outs["hostKeys"] == outs["hostKeys"]
    err = capsys.readouterr().err
    assert f"root filesystem rebuilt from {NEW_ARCHIVE}" in err and "data mounts kept" in err


def test_an_unchanged_archive_never_rolls(provider: FelhomGuestProvider, rt: FakeRuntime) -> None:
    id_, outs = created(provider)
    assert outs["rootfsRebuiltAt"] is None
    provider.update(id_, outs, provider.check(outs, wire_inputs(cores=4.0)).inputs)
    assert "roll" not in [c[0] for c in rt.calls]


def test_preview_of_an_unknown_archive_says_a_roll_and_host_keys_without_a_shell(
    rt: FakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    p = FelhomGuestProvider()
    p.configure(ConfigureRequest(Config(raw_config=config(), project_name="felhom")))
    p._holder.install(rt)
    id_, outs = created(p)
    capsys.readouterr()
    news = {**p.check(outs, wire_inputs()).inputs, "archive": unknown()}
    result = p.diff(id_, outs, news)
    assert result.changes is True and result.replaces == []
    err = capsys.readouterr().err
    assert "known after it is built in this run" in err and f"was {outs['archive']}" in err
    assert "/mnt/data (local-lvm, 1 GiB)" in err
    assert "SSH host keys will CHANGE" in err  # no felhom:nodeShell in this config


def test_rollout_pacing_comes_from_the_stack_config(rt: FakeRuntime) -> None:
    raw = config(**{"felhom:rollout": '{"maxParallel": 2, "pauseOnFailure": false}'})
    p = FelhomGuestProvider()
    p.configure(ConfigureRequest(Config(raw_config=raw, project_name="felhom")))
    p._holder.install(rt)
    id_, outs = created(p)
    p.update(id_, outs, p.check(outs, wire_inputs(archive=NEW_ARCHIVE)).inputs)
    gate = next(c[1][2] for c in rt.calls if c[0] == "roll")
    assert gate.settings.max_parallel == 2 and gate.settings.pause_on_failure is False
    bad = config(**{"felhom:rollout": '{"maxParallel": 0}'})
    p.configure(ConfigureRequest(Config(raw_config=bad, project_name="felhom")))
    p._holder.install(rt)
    with pytest.raises(ConfigError, match=r"felhom:rollout\.maxParallel"):
        p.update(id_, outs, p.check(outs, wire_inputs(archive=NEW_ARCHIVE + "x")).inputs)


def test_a_failed_roll_fails_the_update_and_applies_nothing_else(
    provider: FelhomGuestProvider, rt: FakeRuntime
) -> None:
    id_, outs = created(provider)
    rt.fail_with = FelhomError("docker check failed", guest="acme-web", step="docker")
    with pytest.raises(FelhomError, match="step=docker"):
        provider.update(id_, outs, provider.check(outs, wire_inputs(archive=NEW_ARCHIVE)).inputs)
    assert [c[0] for c in rt.calls][-1] == "roll"
