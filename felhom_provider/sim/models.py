"""The container record the simulator keeps per CT.

``conf`` holds pct.conf values as strings, exactly as they would be written to
``/etc/pve/nodes/<node>/lxc/<vmid>.conf``; ``raw_lxc`` the raw ``lxc.*`` lines. Runtime
facts that PVE reads from the kernel (status, pid, uptime) and the simulated guest's
payload live beside it and are persisted to ``lxc/<vmid>.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from felhom_provider.sim import pctconf


@dataclass
class Container:
    """One LXC guest on the simulated node."""

    vmid: int
    conf: dict[str, str]
    raw_lxc: list[tuple[str, str]] = field(default_factory=list)
    status: str = "stopped"
    pid: int | None = None
    started_at: float | None = None
    guest: dict[str, Any] = field(default_factory=dict)
    # The ``[pve:pending]`` section: values waiting for the next start, ``delete`` as PVE's
    # comma list (``Config.pm`` ``vmconfig_hotplug_pending`` leaves them here).
    pending: dict[str, str] = field(default_factory=dict)

    @property
    def hostname(self) -> str:
        """``hostname`` or PVE's fallback ``CT<vmid>``."""
        return self.conf.get("hostname") or f"CT{self.vmid}"

    @property
    def lock(self) -> str | None:
        """The config-level ``lock:`` value, if any."""
        return self.conf.get("lock")

    @property
    def is_template(self) -> bool:
        """True when ``template: 1``."""
        return self.conf.get("template") == "1"

    def text(self) -> str:
        """The pct.conf text."""
        return pctconf.render(self.conf, self.raw_lxc, self.pending)

    def digest(self) -> str:
        """SHA-1 of the pct.conf text."""
        return pctconf.digest(self.text())

    def nets(self) -> dict[str, str]:
        """``netN`` keys and values."""
        return {k: v for k, v in self.conf.items() if k.startswith("net") and k[3:].isdigit()}

    def runtime_json(self) -> dict[str, Any]:
        """What is persisted besides the pct.conf."""
        return {
            "status": self.status,
            "pid": self.pid,
            "started_at": self.started_at,
            "guest": self.guest,
        }

    @classmethod
    def from_files(cls, vmid: int, conf_text: str, runtime: dict[str, Any] | None) -> Container:
        """Rebuild a CT from its pct.conf text and runtime JSON."""
        conf, raw = pctconf.parse(conf_text)
        rt = runtime or {}
        return cls(
            vmid=vmid,
            conf=conf,
            raw_lxc=raw,
            status=rt.get("status", "stopped"),
            pid=rt.get("pid"),
            started_at=rt.get("started_at"),
            guest=dict(rt.get("guest") or {}),
            pending=pctconf.parse_pending(conf_text),
        )
