"""The committed stack files are valid config for the program (with the demo's additions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from felhom_provider.program import load_program_config

STACKS = Path(__file__).resolve().parents[2] / "stacks"

# What `make demo` adds to the dev stack from the simulator's endpoint.json.
DEMO_ADDITIONS = {
    "felhom:pve": {
        "endpoint": "https://127.0.0.1:40000",
        "node": "pve",
        "tokenId": "felhom-agent@pve!agent",
        "tlsFingerprint": ":".join(["01"] * 32),
    },
    "felhom:nodeShell": {
        "host": "127.0.0.1",
        "port": 40001,
        "user": "root",
        "hostKey": "ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOLqNNhslU5MDVt/oOvJpLdPestRmcVtTsAUlug9cUY5",
        "privateKeyPath": "/tmp/k",
    },
    "felhom:guestSshPort": 40002,
}


def as_cli_config(path: Path, extra: dict[str, Any]) -> dict[str, str]:
    """Config values as the CLI hands them to the program: JSON text for non-strings."""
    raw = yaml.safe_load(path.read_text())["config"]
    raw.update(extra)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def test_dev_stack_declares_golden_build_and_three_guests() -> None:
    config = as_cli_config(STACKS / "Pulumi.dev.yaml", DEMO_ADDITIONS)
    cfg = load_program_config(config.get, project="felhom", stack="dev", secret_is_set=True)
    assert cfg.golden.kind == "build"
    assert len(cfg.guests) == 3
    assert cfg.protect is False, "the demo must be able to tear itself down"


def test_example_customer_stack_is_valid_and_points_nowhere_real() -> None:
    path = STACKS / "Pulumi.example-customer.yaml"
    config = as_cli_config(path, {})
    cfg = load_program_config(
        config.get, project="felhom", stack="example-customer", secret_is_set=True
    )
    assert cfg.golden.kind == "stack"
    assert cfg.protect is True
    assert "pve.example.invalid" in config["felhom:pve"]
    assert "secure" not in path.read_text(), "no secret is committed"
