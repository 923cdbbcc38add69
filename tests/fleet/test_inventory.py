"""Inventory documents from stack outputs of the guest output contract (no PVE involved)."""

from __future__ import annotations

import json
from typing import Any

import yaml  # type: ignore[import-untyped]

from felhom_provider.fleet.inventory import (
    ansible_inventory,
    group_name,
    guests_of,
    host_pattern,
    inventory_document,
    known_hosts,
)

ED = "AAAAC3NzaC1lZDI1NTE5AAAAIOq1"
RSA = "AAAAB3NzaC1yc2EAAAADAQABAAABAQ"


def guest(hostname: str, ip: str, port: int = 22, **extra: Any) -> dict[str, Any]:
    return {
        "vmid": 101.0,  # numbers may arrive as floats
        "node": "pve1",
        "hostname": hostname,
        "mac": "BC:24:11:00:00:01",
        "ipv4": ip,
        "hostKeys": {"ssh-ed25519": "SHA256:abc"},
        "sshPort": port,
        "sshUser": "root",
        "tags": ["web"],
        **extra,
    }


OUTPUTS = {
    "acme": {
        "guests": {
            "web": guest(
                "acme-web", "127.77.0.2", hostPublicKeys={"ssh-ed25519": f"ssh-ed25519 {ED}"}
            ),
            "db": guest(
                "acme-db",
                "127.77.0.3",
                2222,
                hostPublicKeys={"ssh-ed25519": f"ssh-ed25519 {ED}", "ssh-rsa": f"ssh-rsa {RSA}"},
            ),
        }
    },
    "beta-co": {
        "guests": {
            "web": guest(
                "acme-web",  # the same hostname in another stack
                "127.77.0.4",
                knownHosts=[f"127.77.0.4 ssh-ed25519 {ED}"],
            ),
            "old": guest("beta-old", "127.77.0.5"),  # today's outputs: fingerprints only
        }
    },
}


def test_ansible_inventory_groups_and_hostvars() -> None:
    inv = ansible_inventory(guests_of(OUTPUTS))
    # Round trip through YAML, as Ansible reads it.
    inv = yaml.safe_load(yaml.safe_dump(inv))
    stacks = inv["all"]["children"]["felhom"]["children"]
    assert sorted(stacks) == ["acme", "beta_co"]
    db = stacks["acme"]["hosts"]["acme-db"]
    assert db["ansible_host"] == "127.77.0.3"
    assert (db["ansible_port"], db["ansible_user"], db["felhom_vmid"]) == (2222, "root", 101)
    # The second acme-web is qualified with its stack instead of overwriting the first.
    assert sorted(stacks["beta_co"]["hosts"]) == ["beta-co-acme-web", "beta-old"]
    assert "acme-web" in inv["all"]["children"]["node_pve1"]["hosts"]
    assert len(inv["all"]["children"]["tag_web"]["hosts"]) == 4


def test_known_hosts_lines() -> None:
    text = known_hosts(guests_of(OUTPUTS))
    assert text.splitlines() == [
        f"[127.77.0.3]:2222,[acme-db]:2222 ssh-ed25519 {ED}",
        f"[127.77.0.3]:2222,[acme-db]:2222 ssh-rsa {RSA}",
        f"127.77.0.2,acme-web ssh-ed25519 {ED}",
        f"127.77.0.4 ssh-ed25519 {ED}",
    ]


def test_json_document_names_guests_without_public_keys() -> None:
    doc = json.loads(json.dumps(inventory_document(OUTPUTS)))
    assert doc["missingKeys"] == ["beta-co/old"]
    assert {h["hostname"] for h in doc["hosts"]} == {"acme-web", "acme-db", "beta-old"}
    assert doc["stacks"]["acme"]["guests"]["db"]["sshPort"] == 2222


def test_names() -> None:
    assert group_name("", "acme-co.eu") == "acme_co_eu"
    assert group_name("", "9lives") == "_9lives"
    assert group_name("tag_", "a b") == "tag_a_b"
    assert host_pattern("10.0.0.1", 22) == "10.0.0.1"
    assert host_pattern("10.0.0.1", 2022) == "[10.0.0.1]:2022"


def test_stack_ssh_port_fills_in_for_outputs_without_sshport() -> None:
    old = guest("old", "127.77.0.9")
    del old["sshPort"]
    guests = guests_of({"s": {"guests": {"old": old}}}, {"s": 2222})
    assert guests[0].ssh_port == 2222
    assert guests_of({"s": {"guests": {"old": old}}})[0].ssh_port == 22


def test_stacks_without_guests_output_give_nothing() -> None:
    assert guests_of({"empty": {}, "golden-only": {"goldenImage": {"archive": "x"}}}) == []
