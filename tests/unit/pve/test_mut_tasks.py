"""UPID edges and ``wait_for_task``'s results and errors field by field (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import TaskFailedError, TaskTimeoutError, TransientPveError
from felhom_provider.pve.retry import PollBackoff
from felhom_provider.pve.tasks import TaskResult, Upid, is_success, wait_for_task, warning_count

from .fakes import FakeClock

UPID = "UPID:pve:0003A1B2:0012C3D4:6650A1B2:vzrestore:123:root@pam:"


@pytest.mark.parametrize(
    "text",
    [
        "UPID:a:00000001:00000002:00000003:vzdump:1:u:",  # one-character node
        "UPID:n-1:00000001:00000002:00000003:vzdump:1:u:",
        "UPID:pve:00000001:000000002:00000003:t:1:u:",  # 9-digit pstart
        f"  {UPID}\n",  # surrounding whitespace is PVE's line ending, not part of the id
    ],
)
def test_parse_accepts(text: str) -> None:
    upid = Upid.parse(text)
    assert str(upid) == text.strip()
    assert Upid.parse(upid.encode()) == upid


@pytest.mark.parametrize(
    "text",
    [
        "UPID:pve-:00000001:00000002:00000003:t:1:u:",  # node ends with a hyphen
        "UPID:pve:00000001:0000000002:00000003:t:1:u:",  # 10-digit pstart
        "UPID:pve:00000001:0000002:00000003:t:1:u:",  # 7-digit pstart
        "UPID:pve:00000001:00000002:000000003:t:1:u:",  # 9-digit starttime
        "UPID:pve:0000000G:00000002:00000003:t:1:u:",  # not hex
        "UPID:pve:00000001:00000002:00000003::1:u:",  # empty type
        "UPID:pve:00000001:00000002:00000003:t:1 2:u:",  # space in id
        "UPID:pve:00000001:00000002:00000003:t:1:u:x",  # trailing text
        "xUPID:pve:00000001:00000002:00000003:t:1:u:",
        "UPID:p_e:00000001:00000002:00000003:t:1:u:",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a PVE task id \(UPID\)"):
        Upid.parse(text)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(ValueError, match="UPID"):
        Upid.parse(123)  # type: ignore[arg-type]


def test_encode_is_upper_case_zero_padded_and_text_wins_in_str() -> None:
    upid = Upid.parse(UPID.lower().replace("upid:", "UPID:"))
    assert upid.encode() == UPID
    assert str(upid) == UPID.lower().replace("upid:", "UPID:")
    assert str(Upid("pve", 0xABC, 0x1, 0x123456789, "t", "", "u")) == (
        "UPID:pve:00000ABC:00000001:123456789:t::u:"
    )
    assert Upid.parse(UPID) == Upid("pve", 0x3A1B2, 0x12C3D4, 0x6650A1B2, "vzrestore", "123",
                                    "root@pam")  # fmt: skip


@pytest.mark.parametrize(("id_", "vmid"), [("123", 123), ("0", 0), ("", None), ("a1", None)])
def test_vmid(id_: str, vmid: int | None) -> None:
    assert Upid("pve", 1, 2, 3, "t", id_, "u").vmid == vmid


@pytest.mark.parametrize(
    ("exitstatus", "ok", "count"),
    [
        ("WARNINGS: 12", True, 12),
        ("WARNINGS: 0", True, 0),
        ("WARNINGS: 3 ", False, 0),
        (" WARNINGS: 3", False, 0),
        ("WARNINGS:3", False, 0),
        ("OK ", False, 0),
        ("", False, 0),
    ],
)
def test_exit_status_edges(exitstatus: str, ok: bool, count: int) -> None:
    assert is_success(exitstatus) is ok
    assert warning_count(exitstatus) == count


def test_task_result_counts_its_warnings() -> None:
    upid = Upid.parse(UPID)
    assert TaskResult(upid, "WARNINGS: 4", {}).warnings == 4
    assert TaskResult(upid, "OK", {}).warnings == 0


def _feed(*answers: Any) -> Any:
    queue = list(answers)

    def fetch(upid: Upid) -> Any:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return fetch


def _wait(fetch: Any, clock: FakeClock, timeout_s: float, **kw: Any) -> Any:
    return wait_for_task(
        fetch,
        Upid.parse(UPID),
        timeout_s=timeout_s,
        backoff=PollBackoff(initial_s=1.0, factor=1.0, max_s=1.0),
        clock=clock.monotonic,
        sleep=clock.sleep,
        **kw,
    )


def test_result_keeps_the_upid_and_a_copy_of_the_status() -> None:
    clock = FakeClock()
    status = {"status": "stopped", "exitstatus": "WARNINGS: 1", "node": "pve"}
    result = _wait(_feed(status), clock, 5.0)
    assert result.upid == Upid.parse(UPID) and result.exitstatus == "WARNINGS: 1"
    assert result.status == status and result.warnings == 1


def test_a_stopped_status_without_exitstatus_is_a_failure() -> None:
    with pytest.raises(TaskFailedError) as info:
        _wait(_feed({"status": "stopped"}), FakeClock(), 5.0)
    err = info.value
    assert err.exitstatus == "unexpected status"
    assert err.message == "task vzrestore failed: unexpected status"
    assert err.context["node"] == "pve" and err.context["vmid"] == 123


def test_timeout_names_the_task_the_time_and_where_it_runs() -> None:
    clock = FakeClock()
    with pytest.raises(TaskTimeoutError) as info:
        _wait(_feed({"status": "running"}), clock, 2.5)
    err = info.value
    assert err.message == "task vzrestore still running after 2.5s"
    assert err.upid == UPID and err.context["node"] == "pve" and err.context["vmid"] == 123
    assert err.__cause__ is None and err.__suppress_context__


def test_timeout_after_failed_polls_names_the_last_error() -> None:
    with pytest.raises(TaskTimeoutError) as info:
        _wait(_feed(TransientPveError("refused")), FakeClock(), 2.0)
    assert info.value.message == "task vzrestore still running after 2s (last poll failed: refused)"


def test_every_poll_reaches_on_progress_including_the_last() -> None:
    seen: list[Any] = []
    answers = ({"status": "running"}, {"status": "stopped", "exitstatus": "OK"})
    _wait(_feed(*answers), FakeClock(), 5.0, on_progress=seen.append)
    assert seen == list(answers)
