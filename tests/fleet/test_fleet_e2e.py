"""The runner with the real Pulumi CLI against the simulator: file and PostgreSQL backends.

Six customer stacks of one guest each roll out as a canary of one, then waves of three
(``--parallel 3``); the JSON report gives each stack's result, changes and wave. A broken
stack in a later wave stops the rollout at the threshold and the report names it. The
inventory of the applied fleet parses as an Ansible inventory and its known_hosts lines
verify every guest's SSH host keys by handshake.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml  # type: ignore[import-untyped]

from felhom_provider.fleet.inventory import host_pattern
from felhom_provider.fleet.pgserver import LocalPostgres
from tests.fleet.lab import (
    Lab,
    RunnerResult,
    init_stacks,
    make_project,
    run_runner,
    write_stack,
)

# Stack names differ per test: both share one simulator, and a guest's ownership marker
# (project/stack/guest) must not match a guest another test's stack made.
FILE_CUSTOMERS = [f"file{i}" for i in range(1, 7)]
PG_CUSTOMERS = [f"pg{i}" for i in range(1, 7)]
ROLLOUT = ["--canary", "1", "--wave-size", "3", "--parallel", "3", "--per-node", "3"]


def fleet_project(
    lab: Lab, directory: Path, backend: str, customers: list[str], broken: str = ""
) -> Path:
    project = make_project(directory)
    for i, name in enumerate(customers):
        write_stack(project, name, lab.stack_config(name, 1, tags=["eu" if i % 2 else "us"]))
    names = list(customers)
    if broken:
        # Its archive does not exist, so its `up` fails at PVE (the archive check).
        config = lab.stack_config(broken, 1, archive="local:backup/vzdump-lxc-999-missing.tar")
        write_stack(project, broken, config)
        names.append(broken)
    init_stacks(project, names, backend, lab.secret)
    return project


def check_rollout(lab: Lab, project: Path, backend: str, tmp_path: Path) -> dict[str, Any]:
    customers = PG_CUSTOMERS
    preview = run_runner(project, backend, ["preview", *ROLLOUT], tmp_path / "preview.json")
    assert preview.returncode == 0, preview.output
    assert preview.results() == dict.fromkeys(customers, "succeeded")
    for name in customers:
        # The golden image (here: the given archive), the stack identity and one guest per
        # stack; preview creates nothing on PVE.
        assert preview.stack(name)["changes"].get("create") == 3, preview.report
    assert not [ct for ct in lab.cts() if str(ct.get("name", "")).startswith(tuple(customers))]

    up = run_runner(project, backend, ["up", *ROLLOUT], tmp_path / "up.json")
    assert up.returncode == 0, up.output
    assert up.results() == dict.fromkeys(customers, "succeeded")
    waves = [s["wave"] for s in sorted(up.report["stacks"], key=lambda s: s["stack"])]
    assert waves == [0, 1, 1, 1, 2, 2]
    for name in customers:
        assert up.stack(name)["changes"] == {"create": 3}, up.report
        assert up.stack(name)["error"] is None
    hostnames = {str(ct.get("name")) for ct in lab.cts()}
    assert {f"{name}-g0" for name in customers} <= hostnames
    return up.report


def test_rollout_on_the_file_backend(lab: Lab, tmp_path: Path) -> None:
    backend = f"file://{tmp_path / 'backend'}"
    (tmp_path / "backend").mkdir()
    customers = FILE_CUSTOMERS
    # file4x sorts between file4 and file5: in the third wave of the last rollout below.
    project = fleet_project(lab, tmp_path / "project", backend, customers, broken="file4x")
    select = ["--exclude", "file4x"]
    up = run_runner(project, backend, ["up", *select, *ROLLOUT], tmp_path / "u.json")
    assert up.returncode == 0, up.output
    assert up.results() == dict.fromkeys(customers, "succeeded")
    assert {s["wave"] for s in up.report["stacks"]} == {0, 1, 2}

    # With the broken stack selected, one at a time: file1..file4 are unchanged, file4x
    # fails, and nothing after it starts (--max-failures 0).
    args = ["up", "--canary", "1", "--wave-size", "3", "--parallel", "1", "--max-failures", "0"]
    stopped = run_runner(project, backend, args, tmp_path / "stop.json")
    assert stopped.returncode == 1
    results = stopped.results()
    assert results["file4x"] == "failed"
    assert {results[n] for n in ("file1", "file2", "file3", "file4")} == {"succeeded"}
    assert results["file5"] == results["file6"] == "skipped"
    assert "more than --max-failures 0" in stopped.stack("file5")["error"]
    assert "vzdump-lxc-999-missing" in stopped.stack("file4x")["error"]
    assert "failed: file4x" in stopped.output
    assert stopped.report["counts"] == {"failed": 1, "locked": 0, "skipped": 2, "succeeded": 4}


@dataclass
class PgFleet:
    """The PostgreSQL fleet after its rollout, and its inventory directory."""

    up_report: dict[str, Any]
    inventory: RunnerResult
    out: Path


@pytest.fixture(scope="module")
def pg_fleet(
    lab: Lab, postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> PgFleet:
    """Six stacks rolled out on PostgreSQL, then ``felhom fleet inventory`` over them."""
    tmp = tmp_path_factory.mktemp("pg-fleet")
    backend = postgres.url
    project = fleet_project(lab, tmp / "project", backend, PG_CUSTOMERS)
    up_report = check_rollout(lab, project, backend, tmp)
    out = tmp / "inventory"
    inv = run_runner(project, backend, ["inventory", "--out", str(out)], tmp / "inv.json")
    return PgFleet(up_report, inv, out)


def test_rollout_on_postgres(pg_fleet: PgFleet) -> None:
    # check_rollout asserted preview, waves and changes; the report names the backend.
    assert pg_fleet.up_report["backend"].startswith("postgres://pulumi@127.0.0.1:")
    assert pg_fleet.up_report["counts"]["succeeded"] == len(PG_CUSTOMERS)


def test_inventory_parses_as_ansible_inventory(pg_fleet: PgFleet) -> None:
    assert pg_fleet.inventory.returncode == 0, pg_fleet.inventory.output
    check_ansible_inventory(yaml.safe_load((pg_fleet.out / "inventory.yaml").read_text()))
    document = json.loads((pg_fleet.out / "inventory.json").read_text())
    assert sorted(document["stacks"]) == PG_CUSTOMERS
    assert [h["stack"] for h in document["hosts"]] == PG_CUSTOMERS


def test_published_fingerprints_match_every_guest_handshake(pg_fleet: PgFleet) -> None:
    # The inventory's addresses and ports reach each guest's sshd, and what it presents is
    # what the stack published (`hostKeys`: SHA256 fingerprints, as ssh-keygen -lf prints).
    document = json.loads((pg_fleet.out / "inventory.json").read_text())
    for host in document["hosts"]:
        assert host["hostKeys"], host
        for key_type, fingerprint in host["hostKeys"].items():
            key = handshake_key(host["ipv4"], host["sshPort"], key_type)
            digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).rstrip(b"=")
            assert fingerprint == f"SHA256:{digest.decode()}", (host["hostname"], key_type)


def test_known_hosts_lines_verify_every_guest_by_handshake(pg_fleet: PgFleet) -> None:
    document = json.loads((pg_fleet.out / "inventory.json").read_text())
    verify_known_hosts(pg_fleet.out / "known_hosts", document)


def check_ansible_inventory(inventory: dict[str, Any]) -> None:
    """The YAML inventory format: groups with ``hosts`` maps and ``children``."""
    stacks = inventory["all"]["children"]["felhom"]["children"]
    assert sorted(stacks) == PG_CUSTOMERS
    for name in PG_CUSTOMERS:
        hosts = stacks[name]["hosts"]
        assert list(hosts) == [f"{name}-g0"]
        host = hosts[f"{name}-g0"]
        assert host["ansible_host"].startswith("127.77.")
        assert isinstance(host["ansible_port"], int)
        assert host["felhom_stack"] == name
    for group, body in inventory["all"]["children"].items():
        assert set(body) <= {"hosts", "children", "vars"}, group


def verify_known_hosts(path: Path, document: dict[str, Any]) -> None:
    """Every guest's every host key is in known_hosts and is the key its sshd presents."""
    # Guests publish their public keys as `hostPublicKeys` / `knownHosts` outputs; without
    # them no known_hosts line can exist (fingerprints alone cannot make one).
    assert document["missingKeys"] == [], (
        "guests without hostPublicKeys/knownHosts outputs: " + ", ".join(document["missingKeys"])
    )
    known = paramiko.HostKeys(str(path))
    for host in document["hosts"]:
        # OpenSSH's own name for the guest first; plain address or hostname also count.
        names = [host_pattern(host["ipv4"], host["sshPort"]), host["ipv4"], host["hostname"]]
        entry = next((e for e in map(known.lookup, names) if e is not None), None)
        assert entry is not None, f"{host['hostname']}: no known_hosts line for any of {names}"
        assert set(entry.keys()) >= set(host["hostKeys"]), host
        for key_type, expected in entry.items():
            presented = handshake_key(host["ipv4"], host["sshPort"], key_type)
            assert presented == expected, f"{host['hostname']}: {key_type} differs"


# The host-key algorithms that prove possession of a key of each type (RSA keys sign with
# SHA-2 since OpenSSH 8.8; the key itself stays "ssh-rsa").
ALGORITHMS = {"ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"]}


def handshake_key(address: str, port: int, key_type: str) -> paramiko.PKey:
    """The host key of ``key_type`` an sshd presents in a handshake (no login)."""
    transport = paramiko.Transport((address, port))
    try:
        transport.get_security_options().key_types = ALGORITHMS.get(key_type, [key_type])
        transport.start_client(timeout=30)
        key = transport.get_remote_server_key()
    finally:
        transport.close()
    return key


@pytest.mark.parametrize("scheme", ["postgres"])
def test_backend_url_label_masks_a_password(scheme: str) -> None:
    from felhom_provider.fleet.workspace import FleetEnv  # noqa: PLC0415

    env = FleetEnv.from_environ(
        Path("/nonexistent"), {"FELHOM_BACKEND_URL": f"{scheme}://u:secret@db:5432/x", "PATH": ""}
    )
    assert env.backend_label == f"{scheme}://u:****@db:5432/x"
