"""PveClient over a scripted transport: endpoints, parameters, policies, request counts."""

from __future__ import annotations

import pytest
import requests
import urllib3.exceptions

from felhom_provider.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigError,
    ConnectionLostError,
    DispatchLostError,
    GuestLockedError,
    LockTimeoutError,
    ParameterError,
    PermanentPveError,
    PermissionDeniedError,
    TaskFailedError,
)
from felhom_provider.pve import PveEndpoint, Upid

from .fakes import SECRET, Reply

ARCHIVE = "local:backup/vzdump-lxc-9000-2026_05_01-10_20_30.tar.zst"
TOKEN = "felhom-agent@pve!agent"
LOCK = Reply(500, reason="can't lock file '/run/lock/lxc/pve-config-123.lock' - got timeout")
LOCKED = Reply(500, reason="CT is locked (backup)")


def upid(kind: str, vmid: int | str = 123, start: int = 0x6650A1B2, user: str = TOKEN) -> str:
    return f"UPID:pve:0003A1B2:0012C3D4:{start:08X}:{kind}:{vmid}:{user}:"


def lost() -> requests.ConnectionError:
    """What requests raises when the peer hangs up after the request was written."""
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104))
    )


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request was never sent."""
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


# --- endpoints and parameters ---------------------------------------------------------------


def test_restore_sends_one_post_with_every_override(client, scripted):
    scripted.on("POST", "/nodes/pve/lxc", Reply(data=upid("vzrestore")))
    overrides = {
        "hostname": "acme-web",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "rootfs": "local-lvm:10",
        "mp0": "local-lvm:1,mp=/mnt/data",
        "cores": 2,
        "memory": 2048,
        "unprivileged": True,
    }
    result = client.restore_lxc(123, ARCHIVE, overrides)
    assert result == Upid.parse(upid("vzrestore"))
    (sent,) = scripted.sent
    assert sent.params == {
        **{k: str(v) for k, v in overrides.items() if k != "unprivileged"},
        "unprivileged": "1",
        "vmid": "123",
        "ostemplate": ARCHIVE,
        "restore": "1",
    }
    assert client.stats.snapshot() == {
        "total": 1,
        "mutating": 1,
        "by_endpoint": {"POST /nodes/{node}/lxc": 1},
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": 1}, "start"),
        ({"unique": 1, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}, "unique"),
    ],
)
def test_restore_refuses_parameters_that_lose_information(client, scripted, overrides, field):
    with pytest.raises(ConfigError) as info:
        client.restore_lxc(123, ARCHIVE, overrides)
    assert info.value.field == field
    assert scripted.sent == []


def test_next_vmid_parses_pve_string(client, scripted):
    scripted.on("GET", "/cluster/nextid", Reply(data="105"))
    assert client.next_vmid() == 105
    scripted.on(
        "GET",
        "/cluster/nextid",
        Reply(
            400, reason="Parameter verification failed.", errors={"vmid": "VM 105 already exists"}
        ),
    )
    with pytest.raises(AlreadyExistsError):
        client.next_vmid(105)
    assert scripted.sent[-1].params == {"vmid": "105"}


def test_destroy_and_shutdown_encode_booleans(client, scripted):
    scripted.on("DELETE", "/nodes/pve/lxc/123", Reply(data=upid("vzdestroy")))
    scripted.on("POST", "/nodes/pve/lxc/123/status/shutdown", Reply(data=upid("vzshutdown")))
    client.destroy(123)
    client.shutdown(123, timeout=30)
    assert scripted.sent[0].params == {"purge": "1", "destroy-unreferenced-disks": "1"}
    assert scripted.sent[1].params == {"timeout": "30"}


def test_put_config_with_delete_and_digest(client, scripted):
    scripted.on("PUT", "/nodes/pve/lxc/123/config", Reply(data=None))
    client.put_config(123, {"cores": 4}, delete=["mp1", "description"], digest="abc")
    client.put_config(123, hostname="acme-web")
    assert scripted.sent[0].params == {"cores": "4", "delete": "mp1,description", "digest": "abc"}
    assert scripted.sent[1].params == {"hostname": "acme-web"}
    with pytest.raises(ValueError):
        client.put_config(123, {})


def test_volume_id_stays_one_path_segment(client, scripted):
    path = "/nodes/pve/storage/local/content/" + ARCHIVE.replace("/", "%2F")
    scripted.on("DELETE", path, Reply(data=upid("imgdel", "")))
    assert client.delete_volume("local", ARCHIVE) is not None
    scripted.on("DELETE", path, Reply(data=None))
    assert client.delete_volume("local", ARCHIVE) is None
    assert client.stats.count("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}") == 2


def test_vzdump_on_other_node_is_an_error(client, scripted):
    scripted.on("POST", "/nodes/pve/vzdump", Reply(data="OK"))
    with pytest.raises(PermanentPveError, match="not on node"):
        client.vzdump(9000, "local")
    assert scripted.sent[0].params == {
        "vmid": "9000",
        "storage": "local",
        "mode": "stop",
        "compress": "zstd",
        "remove": "0",  # never prune older archives (PVE's default is remove=1)
    }


def test_vzdump_never_prunes_and_escapes_notes(client, scripted):
    scripted.on("POST", "/nodes/pve/vzdump", Reply(data=upid("vzdump")))
    client.vzdump(9000, "local", notes="felhom-golden a\\b\nc")
    sent = scripted.sent[0].params
    assert sent["remove"] == "0"
    assert sent["notes-template"] == "felhom-golden a\\\\b\\nc"


def test_interfaces_null_while_stopped(client, scripted):
    scripted.on("GET", "/nodes/pve/lxc/123/interfaces", Reply(data=None))
    assert client.interfaces(123) is None


def test_non_upid_answer_to_dispatch_is_an_error(client, scripted):
    scripted.on("POST", "/nodes/pve/lxc/123/status/start", Reply(data=None))
    with pytest.raises(PermanentPveError, match="expected a task id"):
        client.start(123)


# --- call policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("transient", [LOCK, LOCKED, Reply(503, reason="Service Unavailable")])
def test_config_put_retries_lock_errors(client, scripted, clock, transient):
    scripted.on("PUT", "/nodes/pve/lxc/123/config", transient, transient, Reply(data=None))
    client.put_config(123, {"hostname": "acme-web"})
    assert len(scripted.calls("PUT")) == 3
    assert clock.sleeps == [0.5, 1.0]
    assert client.stats.mutating == 3


def test_config_put_gives_up_after_bounded_attempts(client, scripted):
    scripted.on("PUT", "/nodes/pve/lxc/123/config", LOCK)
    with pytest.raises(LockTimeoutError):
        client.put_config(123, {"hostname": "acme-web"})
    assert len(scripted.calls("PUT")) == client.retry.attempts == 4


def test_permanent_500_is_not_retried(client, scripted, clock):
    scripted.on(
        "PUT",
        "/nodes/pve/lxc/123/config",
        Reply(
            500, reason="detected modified configuration - file changed by other user? Try again."
        ),
    )
    with pytest.raises(PermanentPveError):
        client.put_config(123, {"hostname": "x"}, digest="old")
    assert len(scripted.sent) == 1
    assert clock.sleeps == []


def test_lost_answer_to_idempotent_put_is_resent(client, scripted):
    scripted.on("PUT", "/nodes/pve/lxc/123/config", lost(), Reply(data=None))
    client.put_config(123, {"memory": 4096})
    assert len(scripted.sent) == 2


def test_lost_answer_to_volume_allocating_put_is_not_resent(client, scripted):
    scripted.on("PUT", "/nodes/pve/lxc/123/config", lost(), Reply(data=None))
    with pytest.raises(ConnectionLostError):
        client.put_config(123, {"mp1": "local-lvm:5,mp=/srv"})
    assert len(scripted.sent) == 1


def test_reads_retry_transient_errors(client, scripted):
    scripted.on("GET", "/nodes/pve/lxc/123/config", lost(), refused(), Reply(data={"cores": 2}))
    assert client.get_config(123) == {"cores": 2}
    assert client.stats.total == 3
    assert client.stats.mutating == 0


# --- dispatch policy ------------------------------------------------------------------------


@pytest.mark.parametrize("transient", [LOCK, LOCKED, Reply(502, reason="Bad Gateway")])
def test_dispatch_retries_errors_that_prove_nothing_ran(client, scripted, transient):
    scripted.on("POST", "/nodes/pve/lxc/123/status/start", transient, Reply(data=upid("vzstart")))
    assert client.start(123).type == "vzstart"
    assert len(scripted.sent) == 2


def test_dispatch_retries_refused_connection(client, scripted):
    scripted.on("POST", "/nodes/pve/lxc", refused(), Reply(data=upid("vzrestore")))
    client.restore_lxc(123, ARCHIVE, {})
    assert len(scripted.sent) == 2


@pytest.mark.parametrize(
    "outcome",
    [lost(), requests.ReadTimeout("read timed out"), Reply(504, reason="Gateway Timeout")],
)
def test_dispatch_never_resends_a_lost_answer(client, scripted, clock, outcome):
    scripted.on("POST", "/nodes/pve/lxc", outcome, Reply(data=upid("vzrestore")))
    sent_at = clock.wall()
    with pytest.raises(DispatchLostError) as info:
        client.restore_lxc(123, ARCHIVE, {})
    assert len(scripted.sent) == 1
    err = info.value
    assert (err.task_type, err.vmid, err.sent_at) == ("vzrestore", 123, sent_at)
    assert isinstance(err, ConnectionLostError)


def test_recover_dispatch_finds_the_task_not_resending(client, scripted, clock):
    scripted.on("POST", "/nodes/pve/lxc", lost())
    with pytest.raises(DispatchLostError) as info:
        client.restore_lxc(123, ARCHIVE, {})
    sent = int(info.value.sent_at)
    ours = upid("vzrestore", 123, start=sent + 1)
    scripted.on(
        "GET",
        "/nodes/pve/tasks",
        Reply(
            data=[
                {"upid": upid("vzrestore", 123, start=sent - 600)},  # an older attempt
                {"upid": upid("vzstart", 123, start=sent + 2)},  # other type
                {"upid": upid("vzrestore", 124, start=sent + 2)},  # other guest
                {"upid": upid("vzrestore", 123, start=sent + 3, user="root@pam")},  # not us
                {"upid": ours},
                {"upid": "garbage"},
            ]
        ),
    )
    assert str(client.recover_dispatch(info.value)) == ours
    assert scripted.sent[-1].params == {"typefilter": "vzrestore", "vmid": "123", "source": "all"}
    assert len(scripted.calls("POST")) == 1


def test_find_task_none_when_absent(client, scripted):
    scripted.on("GET", "/nodes/pve/tasks", Reply(data=[]))
    assert client.find_task("vzrestore", 123, since=0) is None


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (Reply(500, reason="CT 123 already exists on node 'pve'"), AlreadyExistsError),
        (
            Reply(403, reason="Permission check failed (/vms/123, VM.Allocate)"),
            PermissionDeniedError,
        ),
        (
            Reply(400, reason="Parameter verification failed.", errors={"net0": "bad"}),
            ParameterError,
        ),
        (Reply(401, reason="Authentication failed!"), AuthError),
    ],
)
def test_dispatch_permanent_errors_are_not_retried(client, scripted, reply, cls):
    scripted.on("POST", "/nodes/pve/lxc", reply)
    with pytest.raises(cls) as info:
        client.restore_lxc(123, ARCHIVE, {"net0": "x"})
    assert len(scripted.sent) == 1
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.__cause__)


def test_dispatch_gives_up_on_a_long_held_lock(client, scripted):
    scripted.on("POST", "/nodes/pve/lxc/123/status/start", LOCKED)
    with pytest.raises(GuestLockedError):
        client.start(123)
    assert len(scripted.sent) == 4


# --- tasks through the client ---------------------------------------------------------------


def test_wait_task_polls_the_tasks_node_and_counts_polls(client, scripted, clock):
    u = upid("vzstart")
    path = f"/nodes/pve/tasks/{u}/status"
    scripted.on(
        "GET",
        path,
        Reply(data={"status": "running"}),
        lost(),
        Reply(data={"status": "stopped", "exitstatus": "OK"}),
    )
    assert client.wait_task(u, timeout_s=60).exitstatus == "OK"
    assert client.stats.count("GET", "/nodes/{node}/tasks/{upid}/status") == 3
    assert clock.sleeps == [0.5, 1.0]


def test_wait_task_failure(client, scripted):
    u = upid("vzstart")
    scripted.on(
        "GET",
        f"/nodes/pve/tasks/{u}/status",
        Reply(
            data={
                "status": "stopped",
                "exitstatus": "command 'systemctl start pve-container@123' failed: exit code 1",
            }
        ),
    )
    with pytest.raises(TaskFailedError, match="systemctl start"):
        client.wait_task(u, timeout_s=60)


def test_task_log(client, scripted):
    u = upid("vzdump")
    scripted.on("GET", f"/nodes/pve/tasks/{u}/log", Reply(data=[{"n": 1, "t": "TASK OK"}]))
    assert client.task_log(u, limit=0) == [{"n": 1, "t": "TASK OK"}]
    assert scripted.sent[0].params == {"start": "0", "limit": "0"}


# --- endpoint -------------------------------------------------------------------------------


def test_endpoint_repr_hides_secret(endpoint, client):
    assert SECRET not in repr(endpoint)
    assert SECRET not in repr(client)
    assert "***" in repr(endpoint)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "http://127.0.0.1:8006"}, "pve.endpoint"),
        ({"token_id": "felhom-agent"}, "pve.tokenId"),
        ({"token_secret": ""}, "pveTokenSecret"),
        ({"timeout_s": 10.0}, "pve.timeout"),
        ({"tls_fingerprint_sha256": "AB:CD"}, "tls_fingerprint_sha256"),
    ],
)
def test_endpoint_validation(changes, field):
    values = {
        "url": "https://127.0.0.1:8006",
        "node": "pve",
        "token_id": TOKEN,
        "token_secret": SECRET,
        **changes,
    }
    with pytest.raises(ConfigError) as info:
        PveEndpoint(**values)
    assert info.value.field == field


def test_endpoint_from_endpoint_json(tmp_path):
    fp = "AB:" * 31 + "CD"
    data = {
        "api_url": "https://127.0.0.1:4443",
        "tls_fingerprint_sha256": fp,
        "node": "pve",
        "tokens": {
            "agent": {"id": TOKEN, "secret": SECRET},
            "weak": {"id": "weak@pve!weak", "secret": "weak-secret"},
        },
    }
    ep = PveEndpoint.from_endpoint_json(data)
    assert (ep.url, ep.port, ep.token_id, ep.tls_fingerprint_sha256) == (
        "https://127.0.0.1:4443",
        4443,
        TOKEN,
        fp,
    )
    assert PveEndpoint.from_endpoint_json(data, token="weak").token_id == "weak@pve!weak"
    with pytest.raises(ConfigError):
        PveEndpoint.from_endpoint_json(data, token="nope")


def test_token_header_and_version(client, scripted):
    scripted.on("GET", "/version", Reply(data={"version": "9.1.1", "release": "9.1"}))
    assert client.version()["version"] == "9.1.1"
    (sent,) = scripted.sent
    assert sent.headers["Authorization"] == f"PVEAPIToken={TOKEN}={SECRET}"
