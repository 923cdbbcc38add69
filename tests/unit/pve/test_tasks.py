"""UPID parsing, exit statuses, and the poll policy with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import (
    ConnectionLostError,
    NotFoundError,
    TaskFailedError,
    TaskTimeoutError,
    TransientPveError,
)
from felhom_provider.pve.retry import PollBackoff
from felhom_provider.pve.tasks import Upid, is_success, wait_for_task, warning_count

from .fakes import FakeClock

TOKEN_UPID = "UPID:pve:0003A1B2:0012C3D4:6650A1B2:vzrestore:123:felhom-agent@pve!agent:"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            TOKEN_UPID,
            ("pve", 0x3A1B2, 0x12C3D4, 0x6650A1B2, "vzrestore", "123", "felhom-agent@pve!agent"),
        ),
        (
            "UPID:node1:000FF123:11E26F8CC:630D3D2C:vzdump:110:root@pam:",  # 9-digit pstart
            ("node1", 0xFF123, 0x11E26F8CC, 0x630D3D2C, "vzdump", "110", "root@pam"),
        ),
        (
            "UPID:pve-2:00000001:00000002:00000003:vzdump::root@pam:",  # empty id
            ("pve-2", 1, 2, 3, "vzdump", "", "root@pam"),
        ),
        (
            "UPID:pve:0003a1b2:0012c3d4:6650a1b2:vzstart:9000:root@pam:",  # lower-case hex
            ("pve", 0x3A1B2, 0x12C3D4, 0x6650A1B2, "vzstart", "9000", "root@pam"),
        ),
    ],
)
def test_parse(text, fields):
    u = Upid.parse(text)
    assert (u.node, u.pid, u.pstart, u.starttime, u.type, u.id, u.user) == fields
    assert str(u) == text  # sent back exactly as PVE gave it
    assert Upid.parse(u.encode()) == u


@pytest.mark.parametrize(
    "text",
    [
        "",
        "OK",
        "UPID:pve:0003A1B2:0012C3D4:6650A1B2:vzrestore:123:root@pam",  # no trailing colon
        "UPID:pve:3A1B2:0012C3D4:6650A1B2:vzrestore:123:root@pam:",  # pid not 8 digits
        "UPID:-pve:0003A1B2:0012C3D4:6650A1B2:vzrestore:123:root@pam:",  # bad node name
        "UPID:pve:0003A1B2:0012C3D4:6650A1B2:vz/restore:123:root@pam:",  # slash in type
        "UPID:pve:0003A1B2:0012C3D4:6650A1B2:vzrestore:123::",  # empty user
    ],
)
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="UPID"):
        Upid.parse(text)


def test_vmid_and_encode():
    u = Upid("pve", 1, 2, 3, "vzcreate", "101", "root@pam")
    assert u.vmid == 101
    assert str(u) == "UPID:pve:00000001:00000002:00000003:vzcreate:101:root@pam:"
    assert Upid("pve", 1, 2, 3, "vzdump", "", "root@pam").vmid is None


@pytest.mark.parametrize(
    ("exitstatus", "ok", "warnings"),
    [
        ("OK", True, 0),
        ("WARNINGS: 3", True, 3),
        ("WARNINGS: x", False, 0),
        ("job errors", False, 0),
        ("unexpected status", False, 0),
        ("ok", False, 0),
        (
            "unable to restore CT 123 - can't lock file '/run/lock/lxc/pve-config-123.lock'",
            False,
            0,
        ),
        (None, False, 0),
    ],
)
def test_exit_statuses(exitstatus, ok, warnings):
    assert is_success(exitstatus) is ok
    assert warning_count(exitstatus) == warnings


class StatusFeed:
    """Answers status polls from a list; the last entry repeats."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.polls = 0

    def __call__(self, upid: Upid) -> object:
        self.polls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


RUNNING = {"status": "running"}
BACKOFF = PollBackoff(initial_s=0.5, factor=2.0, max_s=2.0)


def _wait(feed: Any, clock: FakeClock, timeout_s: float = 30.0, **kw: Any) -> Any:
    return wait_for_task(
        feed,
        Upid.parse(TOKEN_UPID),
        timeout_s=timeout_s,
        backoff=BACKOFF,
        clock=clock.monotonic,
        sleep=clock.sleep,
        **kw,
    )


@pytest.mark.parametrize("exitstatus", ["OK", "WARNINGS: 2"])
def test_wait_succeeds_with_growing_poll_interval(exitstatus):
    clock = FakeClock()
    feed = StatusFeed(
        RUNNING, RUNNING, RUNNING, RUNNING, {"status": "stopped", "exitstatus": exitstatus}
    )
    seen: list[object] = []
    result = _wait(feed, clock, on_progress=seen.append)
    assert result.exitstatus == exitstatus
    assert feed.polls == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.0]
    assert len(seen) == 5


def test_wait_raises_task_failed_with_pve_text():
    clock = FakeClock()
    text = "unable to restore CT 123 - storage 'x' does not exist"
    feed = StatusFeed(RUNNING, {"status": "stopped", "exitstatus": text})
    with pytest.raises(TaskFailedError) as info:
        _wait(feed, clock)
    assert info.value.exitstatus == text
    assert info.value.upid == TOKEN_UPID
    assert info.value.context["vmid"] == 123


def test_wait_times_out_at_the_deadline_without_overshooting():
    clock = FakeClock()
    start = clock.now
    feed = StatusFeed(RUNNING)
    with pytest.raises(TaskTimeoutError) as info:
        _wait(feed, clock, timeout_s=7.0)
    assert clock.now - start == pytest.approx(7.0)
    assert info.value.upid == TOKEN_UPID
    assert isinstance(info.value, TransientPveError)


def test_transient_poll_errors_are_polled_through():
    clock = FakeClock()
    feed = StatusFeed(
        ConnectionLostError("reset"),
        TransientPveError("refused"),
        {"status": "stopped", "exitstatus": "OK"},
    )
    assert _wait(feed, clock).exitstatus == "OK"
    assert feed.polls == 3


def test_transient_errors_until_deadline_name_the_last_error():
    clock = FakeClock()
    with pytest.raises(TaskTimeoutError, match="last poll failed: refused"):
        _wait(StatusFeed(TransientPveError("refused")), clock, timeout_s=3.0)


def test_permanent_poll_error_propagates_at_once():
    clock = FakeClock()
    feed = StatusFeed(NotFoundError("no such task"))
    with pytest.raises(NotFoundError):
        _wait(feed, clock)
    assert feed.polls == 1
    assert clock.sleeps == []
