"""Stack config for the program tests, as the CLI hands it to the program (JSON text)."""

from __future__ import annotations

import json
from typing import Any

SECRET = "program-test-secret-0001"


def stack_config(**overrides: Any) -> dict[str, str]:
    """A valid dev-like stack config; ``None`` in overrides removes a key."""
    base: dict[str, Any] = {
        "felhom:pve": {
            "endpoint": "https://127.0.0.1:8006",
            "node": "pve1",
            "tokenId": "felhom-agent@pve!agent",
            "tlsFingerprint": ":".join(["AB"] * 32),
        },
        "felhom:pveTokenSecret": SECRET,
        "felhom:nodeShell": {
            "host": "127.0.0.1",
            "port": 2222,
            "user": "root",
            "hostKey": "ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIOLqNNhslU5MDVt/oOvJpLdPestRmcVtTsAUlug9cUY5",
            "privateKeyPath": "/tmp/key",
        },
        "felhom:golden": {"build": {"template": "local:vztmpl/debian-13-standard.tar.zst"}},
        "felhom:guests": [
            {
                "name": "acme-web",
                "cores": 2,
                "memory": 2048,
                "rootfsGiB": 10,
                "mounts": [{"storage": "local-lvm", "sizeGiB": 1, "path": "/mnt/data"}],
            },
            {"name": "acme-db", "memory": 4096, "tags": ["db"]},
            {"name": "acme-ci", "hostname": "ci", "vmid": 4242},
        ],
    }
    base.update(overrides)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in base.items() if v is not None}


def getter(config: dict[str, str]) -> Any:
    return config.get
