"""The acceptance scenarios, in the order they run against one stack.

A scenario is a function taking the :class:`~tests.acceptance.suite.Suite`; it drives the real
``pulumi`` CLI and checks the node through the API token. Add one by writing the function and
placing it in :data:`SCENARIOS`; later scenarios may rely on the state earlier ones leave
(documented in each docstring). The list is open: add a scenario where its state fits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

from felhom_provider.errors import NotFoundError
from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell
from felhom_provider.reconcile.model import owner_tag
from felhom_provider.reconcile.roll_plan import holder_owner
from tests.acceptance.stack import guest_entry
from tests.acceptance.suite import Suite
from tests.e2e.pulumi_cli import processes_in

Scenario = Callable[[Suite], None]


def _digests(suite: Suite) -> dict[int, str]:
    """Config digest of each of this run's CTs: equal before and after = nothing changed."""
    return {v: str(suite.client.get_config(v).get("digest")) for v in suite.guard.suite_cts()}


def preview_creates_and_changes_nothing(suite: Suite) -> None:
    """``pulumi preview`` lists the golden image and every guest and sends no change."""
    preview = suite.stack.pulumi("preview")
    assert f"+ {suite.target.guests + 3} to create" in preview.stdout, preview.stdout
    assert suite.guard.suite_cts() == [] and suite.guard.suite_archives() == []


def bring_up_golden_and_guests(suite: Suite) -> None:
    """``pulumi up`` builds the golden image and brings every guest up (F1-F3, F5-F7)."""
    up = suite.stack.pulumi("up", "--yes")
    assert f"{suite.target.guests + 3} created" in up.stdout, up.stdout
    outputs = suite.stack.outputs()
    golden, guests = outputs["goldenImage"], outputs["guests"]
    plan = suite.stack.plan
    assert suite.guard.suite_archives() == [golden["archive"]]
    assert golden["dockerDriver"] == "overlayfs"  # F6
    assert plan.golden not in suite.guard.suite_cts(), "the build CT is gone"
    assert sorted(g["vmid"] for g in guests.values()) == sorted(plan.guests)
    macs = {g["mac"] for g in guests.values()}
    assert len(macs) == len(guests) and golden["goldenMac"] not in macs  # F1
    keys = {g["hostKeys"]["ssh-ed25519"] for g in guests.values()}
    assert len(keys) == len(guests)  # F3: fresh, distinct host keys
    ips = {g["ipv4"] for g in guests.values()}
    assert None not in ips and len(ips) == len(guests)  # F7
    for name, guest in guests.items():
        config = suite.client.get_config(guest["vmid"])
        assert config["hostname"] == name  # F2
        features = str(config.get("features"))
        assert "keyctl=1" in features and "nesting=1" in features  # F5: carried by restore
        assert guest["state"] == "running"
    suite.facts["guests"] = guests


def second_up_changes_nothing(suite: Suite) -> None:
    """A second ``pulumi up`` reports every resource unchanged and changes no CT."""
    before = _digests(suite)
    up = suite.stack.pulumi("up", "--yes")
    assert f"{suite.target.guests + 3} unchanged" in up.stdout, up.stdout
    assert _digests(suite) == before


def update_in_place(suite: Suite) -> None:
    """More cores for the first guest: updated in place, same VMID and MAC."""
    config = [dict(g) for g in suite.stack.guest_config]
    first = config[0]["name"]
    before = suite.stack.guests()[first]
    config[0]["cores"] = int(config[0]["cores"]) + 1
    suite.stack.set_guests(config)
    up = suite.stack.pulumi("up", "--yes")
    assert "1 updated" in up.stdout and "replaced" not in up.stdout, up.stdout
    after = suite.stack.guests()[first]
    assert (after["vmid"], after["mac"]) == (before["vmid"], before["mac"])
    assert int(suite.client.get_config(after["vmid"])["cores"]) == config[0]["cores"]


def refresh_detects_drift(suite: Suite) -> None:
    """A hostname changed behind Pulumi's back shows in ``refresh``; ``up`` sets it back."""
    name = suite.stack.guest_config[-1]["name"]
    vmid = suite.stack.guests()[name]["vmid"]
    suite.guard.put_config(vmid, hostname="acc-drifted")
    refresh = suite.stack.pulumi("refresh", "--yes", "--diff")
    assert "acc-drifted" in refresh.stdout, refresh.stdout
    preview = suite.stack.pulumi("preview", "--diff")
    assert "1 to update" in preview.stdout, preview.stdout
    suite.stack.pulumi("up", "--yes")
    assert suite.client.get_config(vmid)["hostname"] == name


def refresh_reports_a_stopped_guest(suite: Suite) -> None:
    """A guest stopped behind Pulumi's back shows as stopped after ``refresh``; started
    again, the next ``refresh`` shows it running with its lease."""
    name = suite.stack.guest_config[0]["name"]
    vmid = suite.stack.guests()[name]["vmid"]
    suite.guard.stop_ct(vmid)
    suite.stack.pulumi("refresh", "--yes")
    assert suite.stack.resource_outputs(name)["state"] == "stopped"
    suite.guard.start_ct(vmid)
    deadline = time.monotonic() + suite.target.task_timeout_s
    while time.monotonic() < deadline:
        suite.stack.pulumi("refresh", "--yes")
        guest = suite.stack.resource_outputs(name)
        if guest["state"] == "running" and guest["ipv4"]:
            return
        time.sleep(2)
    raise AssertionError(f"{name} got no lease after its restart")


def fault_bad_input_fails_at_preview(suite: Suite) -> None:
    """Invalid config fails ``preview`` naming the key, and nothing on the node changes."""
    good = [dict(g) for g in suite.stack.guest_config]
    before = _digests(suite)
    suite.stack.set_guests([{**good[0], "memory": -1}, *good[1:]])
    try:
        preview = suite.stack.pulumi("preview", check=False)
        assert preview.returncode != 0
        assert "felhom:guests[0].memory" in preview.stdout + preview.stderr
    finally:
        suite.stack.set_guests(good)
    assert _digests(suite) == before


def _wait_for_restore(suite: Suite, vmid: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + suite.target.task_timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "pulumi up ended before the restore started"
        try:
            if suite.client.status(vmid).get("lock") == "create":
                return
        except NotFoundError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"CT {vmid} was never restored")


def fault_killed_up_is_adopted(suite: Suite) -> None:
    """``pulumi up`` killed (SIGKILL) while PVE restores a new guest; the next ``up`` adopts
    the half-made CT by its marker instead of making a second one. The guest is then removed
    again with ``up`` (the delete path)."""
    stack, plan = suite.stack, suite.stack.plan
    extra = guest_entry("acc-killed", plan.spare, suite.target)
    good = [dict(g) for g in stack.guest_config]
    stack.set_guests([*good, extra])
    stack.guard.check_stack_guests(stack.guests())
    project = stack.project
    proc = subprocess.Popen(
        [str(project.bin_dir / "pulumi"), "up", "--yes", "--non-interactive"],
        cwd=project.workdir,
        env=project.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_restore(suite, plan.spare, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while processes_in(project.workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    stack.pulumi("cancel", "--yes", check=False)  # the killed run's backend lock
    up = stack.pulumi("up", "--yes", check=False)
    if up.returncode != 0 and "pending" in up.stdout + up.stderr:
        stack.pulumi("refresh", "--yes", "--clear-pending-creates")
        up = stack.pulumi("up", "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "adopting CT" in up.stdout, up.stdout
    assert stack.guests()["acc-killed"]["vmid"] == plan.spare
    assert sorted(suite.guard.suite_cts()) == sorted([*plan.guests, plan.spare])
    stack.set_guests(good)
    down = stack.pulumi("up", "--yes")
    assert "1 deleted" in down.stdout, down.stdout
    assert plan.spare not in suite.guard.suite_cts()


_DATA_FILE = "/mnt/data/acceptance.txt"
#: What a golden roll-out keeps of every guest (besides the file in its data mount).
_IDENTITY = ("vmid", "mac", "ipv4", "hostname", "hostKeys", "mounts")


def _node_shell(suite: Suite) -> ParamikoNodeShell:
    sh = suite.target.shell
    settings = NodeShellSettings(
        host=sh.host, port=sh.port, user=sh.user, host_key=sh.host_key, key_file=sh.private_key_path
    )
    return ParamikoNodeShell(settings)


def golden_roll_keeps_identity_and_data(suite: Suite) -> None:
    """A golden revision bump (built in the same run) rolls every guest in ONE ``up``: a new
    root filesystem from the new archive, the same VMID, MAC, IP, hostname and SSH host key
    fingerprints, and the file written in each data mount intact; previewed as updates, not
    replacements; no holder CT, no vzdump of an old root filesystem and no old archive left."""
    stack, shell = suite.stack, _node_shell(suite)
    before = stack.guests()
    old_archive = stack.outputs()["goldenImage"]["archive"]
    for name, guest in before.items():
        assert suite.guard.owns_ct(guest["vmid"]), name  # writes only into the suite's CTs
        line = f"data of {name}"
        shell.exec(guest["vmid"], ["sh", "-c", f"echo {line} > {_DATA_FILE}"]).check()
    stack.project.run("config", "set", "--path", "felhom:golden.build.revision", "2")
    preview = stack.pulumi("preview")
    assert f"{len(before)} to update" in preview.stdout, preview.stdout
    assert "root filesystem rebuilt" in preview.stdout and "data mounts kept" in preview.stdout
    up = stack.pulumi("up", "--yes")
    assert f"{len(before)} updated" in up.stdout, up.stdout
    new_archive = stack.outputs()["goldenImage"]["archive"]
    assert new_archive != old_archive
    after = stack.guests()
    for name, guest in after.items():
        assert {k: guest[k] for k in _IDENTITY} == {k: before[name][k] for k in _IDENTITY}
        assert guest["archive"] == new_archive and guest["rootfsRebuiltAt"], guest
        text = shell.exec(guest["vmid"], ["cat", _DATA_FILE]).check().stdout
        assert str(text).strip() == f"data of {name}", name
    assert suite.guard.suite_archives() == [new_archive]
    assert sorted(suite.guard.suite_cts()) == sorted(g["vmid"] for g in after.values())
    holders = {owner_tag(holder_owner(g["owner"])) for g in after.values()}
    tags = [str(ct.get("tags") or "") for ct in suite.client.list_lxc()]
    assert not [t for t in tags if holders & set(t.split(";"))], tags


def destroy_leaves_nothing(suite: Suite) -> None:
    """``pulumi destroy`` removes every guest and the archive; the secret never showed."""
    suite.stack.pulumi("destroy", "--yes")
    assert suite.guard.suite_cts() == []
    assert suite.guard.suite_archives() == []
    secret = suite.target.endpoint.token_secret
    assert not any(secret in text for text in suite.stack.outputs_seen)


#: The scenarios in order. Each one leaves the stack as the next expects.
SCENARIOS: tuple[Scenario, ...] = (
    preview_creates_and_changes_nothing,
    bring_up_golden_and_guests,
    second_up_changes_nothing,
    update_in_place,
    refresh_detects_drift,
    refresh_reports_a_stopped_guest,
    fault_bad_input_fails_at_preview,
    fault_killed_up_is_adopted,
    golden_roll_keeps_identity_and_data,
    destroy_leaves_nothing,
)


def scenario_ids() -> list[str]:
    """Test ids: the scenario function names."""
    return [s.__name__ for s in SCENARIOS]
