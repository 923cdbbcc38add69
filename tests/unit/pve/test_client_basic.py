"""PveClient against a scripted transport: paths, parameters, counting, UPIDs."""

from __future__ import annotations

from .fakes import Reply


def test_version_and_token_header(client, scripted):
    scripted.on("GET", "/version", Reply(data={"version": "9.1.1", "release": "9.1"}))
    assert client.version()["version"] == "9.1.1"
    (sent,) = scripted.sent
    assert sent.headers["Authorization"].startswith("PVEAPIToken=felhom-agent@pve!agent=")
