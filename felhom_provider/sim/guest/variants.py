"""Archive variants for failure tests: a golden archive whose Docker does not work.

``break_docker(payload)`` turns an archive's guest payload into one with a broken Docker
engine: the ``dockerd`` binary is gone (as after a botched upgrade that removed it) and the
packaged ``docker.service`` checks for it before starting (``ExecStartPre=/usr/bin/test -x
/usr/bin/dockerd``), so the unit ends ``failed`` at boot and ``docker run --rm hello-world``
answers the daemon's socket error (exit 125), exactly what a guest with a broken engine shows.
Everything else (config, host keys, packages list) is unchanged.

The check line is needed because the simulator's systemd starts known daemons by name
without looking for their binary (``systemd._run_line``); the real ``systemd`` would fail
the unit with ``203/EXEC`` instead.
"""

from __future__ import annotations

import re
from typing import Any

from felhom_provider.sim.guest import units
from felhom_provider.sim.guest.model import GuestModel

DOCKERD = "/usr/bin/dockerd"
CHECK_LINE = f"ExecStartPre=/usr/bin/test -x {DOCKERD}"


class VariantError(Exception):
    """The payload cannot be turned into the requested variant."""


def break_docker(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with Docker broken; raises ``VariantError`` when Docker is not installed."""
    if not payload:
        raise VariantError("the archive carries no simulated guest")
    model = GuestModel.from_payload(payload)
    unit = units.find_unit(model.fs, "docker.service")
    if unit is None or "docker-ce" not in model.packages:
        raise VariantError("Docker (docker-ce) is not installed in the archived guest")
    path = _unit_path(model)
    text = model.fs.read(path)
    if CHECK_LINE not in text:
        text = re.sub(r"^\[Service\]\n", f"[Service]\n{CHECK_LINE}\n", text, count=1, flags=re.M)
        model.fs.write(path, text)
    if model.fs.exists(DOCKERD):
        model.fs.remove(DOCKERD)
    return model.to_payload()


def _unit_path(model: GuestModel) -> str:
    for directory in units.UNIT_DIRS:
        path = f"{directory}/docker.service"
        if model.fs.is_file(path):
            return model.fs.resolve(path)
    raise VariantError("docker.service unit file not found")
