"""``python -m felhom_provider.sim serve``: endpoint.json, TLS fingerprint, clean SIGTERM."""

from __future__ import annotations

import hashlib
import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import requests


def test_serve_writes_endpoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    fault = json.dumps({"method": "GET", "path": "/nodes", "status": 503, "message": "warming up"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "felhom_provider.sim", "serve", "--state-dir", str(state),
         "--no-extensions", "--fault-http", fault],
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        endpoint_file = state / "endpoint.json"
        for _ in range(600):
            if endpoint_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        ep = json.loads(endpoint_file.read_text())
        assert ep["api_url"].startswith("https://127.0.0.1:")
        assert ep["node"] == "pve-sim" and ep["state_dir"] == str(state.resolve())
        assert set(ep["tokens"]) == {"agent", "weak", "admin"}
        host, port = ep["api_url"].removeprefix("https://").split(":")
        der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, int(port))))
        digest = hashlib.sha256(der).hexdigest().upper()
        assert ep["tls_fingerprint_sha256"] == ":".join(digest[i : i + 2] for i in range(0, 64, 2))
        tok = ep["tokens"]["agent"]
        headers = {"Authorization": f"PVEAPIToken={tok['id']}={tok['secret']}"}
        first = requests.get(
            f"{ep['api_url']}/api2/json/nodes", headers=headers, verify=False, timeout=10
        )
        assert (first.status_code, first.reason) == (503, "warming up")
        second = requests.get(
            f"{ep['api_url']}/api2/json/nodes", headers=headers, verify=False, timeout=10
        )
        assert second.json()["data"][0]["node"] == "pve-sim"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
