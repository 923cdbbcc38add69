"""One message per failed resource (no traceback unless FELHOM_DEBUG=1) and ephemeral steps."""

from __future__ import annotations

import sys
import traceback
import types
from typing import Any

import pytest

from felhom_provider.errors import (
    PermissionDeniedError,
    RollbackError,
    TaskFailedError,
    TransientPveError,
)
from felhom_provider.provider_process.failure import explain, install_clean_errors
from felhom_provider.resources import _runtime

SECRET = "5ec2e7aa-0000-4e1e-b0b0-c0ffee000001"


def start_failed() -> TaskFailedError:
    exc = TaskFailedError(
        "task vzstart failed: command 'systemctl start pve-container@104' failed: exit code 1",
        upid="UPID:pve:0001:0002:00000003:vzstart:104:felhom@pve!agent:",
        exitstatus="command 'systemctl start pve-container@104' failed: exit code 1",
        vmid=104,
    )
    exc.context.update(
        guest="acme-web", step="start", rolled_back="stopped CT 104; destroyed CT 104"
    )
    return exc


def test_explain_names_guest_step_pve_words_rollback_and_what_to_do() -> None:
    text = explain(start_failed())
    first, *rest = text.splitlines()
    assert first.startswith("acme-web: step 'start' failed: task vzstart failed: command")
    assert "  rolled back: stopped CT 104; destroyed CT 104" in rest
    assert any(line.startswith("  to do: read the task's log") for line in rest)
    assert "Traceback" not in text and "vmid=104" in text


def test_explain_rollback_error_lists_leftovers_and_the_cause() -> None:
    cause = TransientPveError("PVE 500 on POST /nodes/pve/lxc: got timeout", pve_message="x")
    cause.context.update(guest="acme-db", step="restore")
    err = RollbackError("acme-db: restore failed", leftovers=["CT 105 (destroy)"], cause=cause)
    text = explain(err)
    assert text.startswith("acme-db: step 'restore' failed: PVE 500 on POST")
    assert "  left behind: CT 105 (destroy)" in text and "remove what is left" in text


def test_explain_permission_names_the_missing_privileges() -> None:
    err = PermissionDeniedError("lacks", missing=["VM.Allocate on /vms"], step="preflight")
    assert "grant the API token VM.Allocate on /vms" in explain(err)


def test_explain_unexpected_error_says_it_is_a_bug() -> None:
    assert explain(KeyError("x")).startswith("internal error: KeyError")


@pytest.fixture
def server_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="pulumi.dynamic.__main__")  # type: ignore[assignment]
    main.traceback = traceback  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    return main


def _abort_text(main: Any, exc: BaseException) -> str:
    try:
        raise exc
    except BaseException:
        return str(main.traceback.format_exc())  # what the provider server sends


def test_the_server_sends_the_explanation_masked(server_main: Any, monkeypatch) -> None:
    monkeypatch.delenv("FELHOM_DEBUG", raising=False)
    assert install_clean_errors(lambda t: t.replace(SECRET, "****"))
    exc = start_failed()
    exc.context["step"] = f"start {SECRET}"
    text = _abort_text(server_main, exc)
    assert "Traceback" not in text and SECRET not in text and "acme-web: step" in text


def test_felhom_debug_restores_the_traceback(server_main: Any, monkeypatch) -> None:
    monkeypatch.setenv("FELHOM_DEBUG", "1")
    assert install_clean_errors(lambda t: t.replace(SECRET, "****"))
    text = _abort_text(server_main, ValueError(f"boom {SECRET}"))
    assert text.startswith("Traceback (most recent call last)") and SECRET not in text


def test_outside_the_server_nothing_is_changed() -> None:
    assert install_clean_errors(lambda t: t) is False


def test_steps_are_ephemeral_and_the_result_line_is_kept(monkeypatch) -> None:
    sent: list[tuple[str | None, str, bool]] = []

    def fake_log(urn: str | None, message: str, *, ephemeral: bool = False) -> bool:
        sent.append((urn, message, ephemeral))
        return True

    monkeypatch.setattr(_runtime, "engine_log", fake_log)
    log = _runtime.progress_for("guest", lambda t: t.replace(SECRET, "**"), "felhom/dev/acme")
    log(f"acme: restoring with {SECRET}")
    log("acme: ready: vmid 100")
    log.finish()
    urn = "urn:pulumi:dev::felhom::pulumi-python:dynamic/felhom:Guest::acme"
    assert sent == [
        (urn, "restoring with **", True),
        (urn, "ready: vmid 100", True),
        (urn, "ready: vmid 100", False),
    ]


def test_without_an_engine_lines_go_to_stderr_once(capsys) -> None:
    log = _runtime.progress_for("guest", lambda t: t, "felhom/dev/acme")
    log("acme: ready")
    log.finish()
    assert capsys.readouterr().err == "felhom guest acme: ready\n"
