"""Golden hardening on the simulator: a protected archive, its delete path, Docker's key check."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import FelhomError, TaskFailedError, VerificationError
from felhom_provider.reconcile import GoldenEngine, GoldenSpec
from felhom_provider.reconcile.golden_steps import DOCKER_KEY_FINGERPRINT, KEY_CHECK_STEP
from felhom_provider.reconcile.journal import Journal, JournalStatus
from felhom_provider.reconcile.undo import DeleteVolume
from felhom_provider.sim.guest import cmd_gpg
from tests.engine.conftest import TEMPLATE, Env


def _backups(env: Env) -> dict[str, dict[str, Any]]:
    return {str(i["volid"]): i for i in env.client.storage_content("local", content="backup")}


def _engine(env: Env) -> GoldenEngine:
    return GoldenEngine(env.client, env.shell, progress=env.log.append)


def _spec(env: Env, name: str) -> GoldenSpec:
    return GoldenSpec(name=name, owner=f"felhom/test/{name}", node=env.node, template=TEMPLATE)


def test_the_built_archive_is_protected_and_a_plain_delete_fails(env: Env) -> None:
    archive = env.golden.archive
    assert _backups(env)[archive].get("protected") == 1
    upid = env.client.delete_volume("local", archive)
    assert upid is not None
    with pytest.raises(TaskFailedError) as info:
        env.client.wait_task(upid, 30)
    volname = archive.split(":", 1)[1]
    assert f"cannot remove protected volume '{volname}' on 'local'" in str(info.value)
    assert archive in _backups(env)


def test_delete_clears_the_protection_then_deletes(env: Env) -> None:
    archive = env.golden.archive
    _engine(env).delete(archive)
    assert archive not in _backups(env)
    assert any(f"clearing protection of {archive}" in line for line in env.log)
    _engine(env).delete(archive)  # already gone: counts as deleted
    assert any("already gone" in line for line in env.log)


def test_a_build_failing_after_vzdump_unprotects_and_deletes_its_archive(env: Env) -> None:
    before = set(_backups(env))
    env.sim.add_http_fault(
        "GET", "/nodes/{node}/vzdump/extractconfig", status=400, message="simulated", times=None
    )
    with pytest.raises(FelhomError) as info:
        _engine(env).build(_spec(env, "failing"))
    journal = info.value.journal
    assert isinstance(journal, Journal)
    vzdump = next(e for e in journal.entries if e.step == "vzdump")
    assert isinstance(vzdump.undo, DeleteVolume) and vzdump.undo.protected
    assert vzdump.status == JournalStatus.UNDONE
    # Only the new archive went; the protected golden of the session build is untouched.
    assert set(_backups(env)) == before
    assert _backups(env)[env.golden.archive].get("protected") == 1
    assert not [ct for ct in env.cts() if 9000 <= ct["vmid"] <= 9099]


def test_a_build_refuses_a_tampered_docker_key(env: Env) -> None:
    before = set(_backups(env))
    with (
        cmd_gpg.serving_docker_keys(cmd_gpg.IMPOSTOR_KEY),
        pytest.raises(VerificationError) as info,
    ):
        _engine(env).build(_spec(env, "tampered"))
    text = str(info.value)
    assert "expected fingerprint 9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88" in text
    assert "found 5A1B 4C8E 2D7F 9063 1E4B  8C2A F0D9 E3B7 6C25 A41D" in text
    assert info.value.context["step"] == KEY_CHECK_STEP
    assert info.value.journal is not None
    steps = info.value.journal.steps()
    assert "keyring" not in steps and "apt-update-docker" not in steps
    assert set(_backups(env)) == before
    assert not [ct for ct in env.cts() if 9000 <= ct["vmid"] <= 9099]


def test_the_genuine_key_was_checked_in_the_session_build(env: Env) -> None:
    # The session build ran with the genuine key; its archive exists, so the check passed.
    assert env.golden.archive in _backups(env)
    assert cmd_gpg.served_docker_keys() == (cmd_gpg.DOCKER_RELEASE_KEY,)
    assert cmd_gpg.DOCKER_RELEASE_KEY.fingerprint == DOCKER_KEY_FINGERPRINT


def test_an_archive_vzdump_left_unprotected_is_protected_by_the_build(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = env.client.vzdump

    def ignoring_protected(*args: Any, protected: bool = False, **kw: Any) -> Any:
        del protected  # as a PVE that ignored the option would
        return real(*args, **kw)

    monkeypatch.setattr(env.client, "vzdump", ignoring_protected)
    state = _engine(env).build(_spec(env, "unprotected"))
    assert _backups(env)[state.archive].get("protected") == 1
    assert any(f"archive {state.archive} is not protected" in line for line in env.log)
