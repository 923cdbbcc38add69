"""PveClient against the in-process PVE simulator over real HTTPS on loopback.

TLS is pinned to the simulator's self-signed certificate with the fingerprint it publishes in
``endpoint.json``; the other TLS modes are checked against the same server. Faults come from
the simulator's control surface; the client's sleep is a fake so retries run instantly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.errors import (
    AlreadyExistsError,
    AuthError,
    DispatchLostError,
    LockTimeoutError,
    PermissionDeniedError,
    TaskFailedError,
)
from felhom_provider.pve import PveClient, PveEndpoint, RetrySettings
from felhom_provider.pve.permissions import guest_bringup_privileges
from felhom_provider.pve.props import Mount, Net
from felhom_provider.pve.tls import pem_fingerprint

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
CONFIG = "/nodes/{node}/lxc/{vmid}/config"


@pytest.fixture
def sim_endpoint(sim: Any) -> PveEndpoint:
    return PveEndpoint.from_endpoint_json(Path(sim.state_dir) / "endpoint.json")


def _client(endpoint: PveEndpoint, sleeps: list[float] | None = None) -> PveClient:
    record = sleeps if sleeps is not None else []
    return PveClient(endpoint, retry=RetrySettings(attempts=4, jitter_s=0.0), sleep=record.append)


@pytest.fixture
def api(sim_endpoint: PveEndpoint) -> PveClient:
    return _client(sim_endpoint)


def _served(sim: Any) -> int:
    return sum(sim.request_counts().values())


# --- TLS ------------------------------------------------------------------------------------


def test_pinned_fingerprint_from_endpoint_json(sim, sim_endpoint, api):
    cert = (Path(sim.state_dir) / "tls" / "pve-ssl.pem").read_text()
    assert sim_endpoint.tls_fingerprint_sha256 == pem_fingerprint(cert)
    assert api.tls_mode == "pinned"
    assert "version" in api.version()


def test_wrong_pin_refused_before_any_request(sim, sim_endpoint):
    before = _served(sim)
    wrong = replace(sim_endpoint, tls_fingerprint_sha256="00:" * 31 + "00")
    with pytest.raises(AuthError, match="TLS verification failed"):
        _client(wrong).version()
    assert _served(sim) == before  # the token never left this process


def test_self_signed_refused_by_system_cas(sim, sim_endpoint):
    plain = replace(sim_endpoint, tls_fingerprint_sha256=None)
    with pytest.raises(AuthError):
        _client(plain).version()


def test_ca_bundle(sim, sim_endpoint):
    bundle = str(Path(sim.state_dir) / "tls" / "pve-ssl.pem")
    client = _client(replace(sim_endpoint, tls_fingerprint_sha256=None, ca_bundle=bundle))
    assert client.tls_mode == "ca-bundle"
    assert "version" in client.version()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_works_but_warns(sim_endpoint, caplog):
    off = replace(sim_endpoint, tls_fingerprint_sha256=None, verify_tls=False)
    with caplog.at_level(logging.WARNING, logger="felhom_provider.pve.tls"):
        client = _client(off)
    assert "TLS VERIFICATION IS OFF" in caplog.text
    assert "version" in client.version()


def test_bad_token_is_auth_error_without_secret(sim_endpoint):
    bad = replace(sim_endpoint, token_secret="00000000-0000-0000-0000-000000000000")
    with pytest.raises(AuthError) as info:
        _client(bad).version()
    assert bad.token_secret not in str(info.value)
    assert sim_endpoint.token_secret not in str(info.value)


# --- preflight ------------------------------------------------------------------------------


def test_preflight_passes_for_the_agent_token(api):
    api.preflight(
        guest_bringup_privileges(
            vmid=None, storages=["local-lvm"], backup_storage="local", archive_owner_vmid=9000
        )
    )


def test_preflight_names_every_missing_privilege_of_the_weak_token(sim):
    weak = _client(
        PveEndpoint.from_endpoint_json(Path(sim.state_dir) / "endpoint.json", token="weak")
    )
    required = guest_bringup_privileges(
        vmid=None, storages=["local-lvm"], backup_storage="local", archive_owner_vmid=9000
    )
    with pytest.raises(PermissionDeniedError) as info:
        weak.preflight(required)
    missing = info.value.missing
    for item in (
        "VM.Allocate on /vms",
        "VM.PowerMgmt on /vms",
        "SDN.Use on /sdn/zones/localnetwork/vmbr0",
    ):
        assert item in missing
    assert len(missing) >= 5
    assert all(item in str(info.value) for item in missing)
    assert weak.stats.total == 1


# --- containers, tasks, retries ------------------------------------------------------------


def _create(api: PveClient, vmid: int) -> None:
    upid = api.create_lxc(
        vmid,
        {
            "ostemplate": TEMPLATE,
            "hostname": f"ct{vmid}",
            "rootfs": "local-lvm:4",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
            "memory": 512,
            "unprivileged": True,
        },
    )
    assert upid.type == "vzcreate"
    api.wait_task(upid, timeout_s=60)


def test_lifecycle_against_the_simulator(api):
    vmid = api.next_vmid()
    _create(api, vmid)
    conf = api.get_config(vmid)
    assert Net.parse(conf["net0"]).hwaddr is not None  # PVE filled a fresh MAC
    assert Mount.parse(conf["rootfs"]).size == 4 << 30
    api.put_config(vmid, {"cores": 2}, digest=conf["digest"])
    assert api.get_config(vmid)["cores"] in (2, "2")
    api.wait_task(api.resize(vmid, "rootfs", "+1G"), timeout_s=60)
    assert Mount.parse(api.get_config(vmid)["rootfs"]).size == 5 << 30
    assert api.interfaces(vmid) is None
    api.wait_task(api.start(vmid), timeout_s=60)
    assert api.status(vmid)["status"] == "running"
    api.wait_task(api.stop(vmid), timeout_s=60)
    api.wait_task(api.destroy(vmid), timeout_s=60)
    assert vmid not in [int(ct["vmid"]) for ct in api.list_lxc()]
    assert api.stats.mutating == 6  # create, config, resize, start, stop, destroy
    assert api.stats.total > api.stats.mutating


def test_vzdump_extractconfig_restore(api):
    _create(api, 9000)
    api.wait_task(api.vzdump(9000, "local"), timeout_s=60)
    (item,) = api.storage_content("local", content="backup", vmid=9000)
    conf_text = api.extractconfig(item["volid"])
    assert "hostname: ct9000" in conf_text
    upid = api.restore_lxc(
        101,
        item["volid"],
        {"hostname": "acme-web", "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "rootfs": "local-lvm:6"},
    )
    api.wait_task(upid, timeout_s=60)
    conf = api.get_config(101)
    assert conf["hostname"] == "acme-web"
    assert Mount.parse(conf["rootfs"]).size == 6 << 30


def test_lock_timeout_is_retried(sim, api):
    _create(api, 120)
    api.stats.reset()
    message = "can't lock file '/run/lock/lxc/pve-config-120.lock' - got timeout"
    sim.add_http_fault("PUT", CONFIG, status=500, message=message, times=2)
    api.put_config(120, {"memory": 1024})
    assert api.stats.count("PUT", CONFIG) == 3
    assert api.get_config(120)["memory"] in (1024, "1024")


def test_real_config_lock_contention_is_classified(sim, api):
    _create(api, 121)
    sim.hold_lock(121, 3600)  # the simulator's flock wait is short in tests
    with pytest.raises(LockTimeoutError):
        api.put_config(121, {"memory": 1024})
    assert api.stats.count("PUT", CONFIG) == api.retry.attempts


def test_vmid_collision_is_already_exists(api):
    _create(api, 130)
    with pytest.raises(AlreadyExistsError):
        api.create_lxc(130, {"ostemplate": TEMPLATE, "rootfs": "local-lvm:4"})
    with pytest.raises(AlreadyExistsError):
        api.next_vmid(130)


def test_failed_task_is_task_failed(sim, api):
    _create(api, 140)
    sim.add_task_fault("vzstart", "simulated start failure", vmid=140)
    with pytest.raises(TaskFailedError, match="simulated start failure"):
        api.wait_task(api.start(140), timeout_s=60)


def test_dropped_dispatch_is_not_resent(sim, api):
    sim.add_http_fault("POST", "/nodes/{node}/lxc", action="drop", times=1)
    with pytest.raises(DispatchLostError) as info:
        _create(api, 150)
    assert sim.request_counts().get("POST /nodes/{node}/lxc") == 1
    # This fault drops before the handler runs, so there is no task to follow.
    assert api.recover_dispatch(info.value) is None


def test_find_task_follows_a_started_task(api, sim_endpoint):
    before = int(time.time()) - 2  # whole seconds, and the node's clock may lag ours
    _create(api, 160)
    found = api.find_task("vzcreate", 160, since=before)
    assert found is not None
    assert found.user == sim_endpoint.token_id
    assert api.wait_task(found, timeout_s=60).exitstatus == "OK"
