"""Where the acceptance suite runs: a real PVE 9 node from ``FELHOM_ACC_*``, or the simulator.

Every variable is documented in docs/acceptance.md. With none of the target variables set, the
suite starts the in-repo simulator and builds the same :class:`Target` from its
``endpoint.json``, so CI runs exactly the code paths an operator's run takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.errors import ConfigError
from felhom_provider.pve import PveEndpoint
from felhom_provider.settings import NodeShellSettings as NodeShell

PREFIX = "FELHOM_ACC_"
#: Variables that must be set when any target variable is set.
REQUIRED = (
    "ENDPOINT",
    "NODE",
    "TOKEN_ID",
    "TOKEN_SECRET",
    "SHELL_HOST",
    "SHELL_HOSTKEY",
    "SHELL_KEY",
    "VMIDS",
)
#: Variables that select a real node (the simulator otherwise).
TARGET_VARS = (*REQUIRED, "TLS_FINGERPRINT", "CA_BUNDLE", "SHELL_PORT", "SHELL_USER")
#: Variables with defaults, for either target (``TIME_SCALE`` only for the simulator).
OPTIONAL = (
    "TEMPLATE",
    "ROOTFS_STORAGE",
    "ARCHIVE_STORAGE",
    "BRIDGE",
    "GUEST_SSH_PORT",
    "GUESTS",
    "TASK_TIMEOUT",
    "TIME_SCALE",
)
DEFAULT_TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
#: One golden build CT plus the guests plus the one a fault scenario adds.
EXTRA_VMIDS = 2


@dataclass(frozen=True)
class Target:
    """One PVE node and what the suite may use on it."""

    endpoint: PveEndpoint
    shell: NodeShell
    vmids: range
    template: str = DEFAULT_TEMPLATE
    rootfs_storage: str = "local-lvm"
    archive_storage: str = "local"
    bridge: str = "vmbr0"
    guest_ssh_port: int = 22
    guests: int = 2
    task_timeout_s: int = 900
    simulated: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.vmids) < self.guests + EXTRA_VMIDS:
            raise ConfigError(
                PREFIX + "VMIDS",
                f"{len(self.vmids)} VMIDs for {self.guests} guests; "
                f"need at least {self.guests + EXTRA_VMIDS}",
            )

    def stack_config(self) -> dict[str, Any]:
        """Plain (non-secret) stack config for ``pulumi config set-all --path``."""
        ep, sh = self.endpoint, self.shell
        config: dict[str, Any] = {
            "felhom:pve.endpoint": ep.url,
            "felhom:pve.node": ep.node,
            "felhom:pve.tokenId": ep.token_id,
            "felhom:nodeShell.host": sh.host,
            "felhom:nodeShell.port": sh.port,
            "felhom:nodeShell.user": sh.user,
            "felhom:nodeShell.hostKey": sh.host_key,
            "felhom:nodeShell.privateKeyPath": sh.private_key_path,
            "felhom:guestSshPort": self.guest_ssh_port,
            "felhom:limits.taskTimeoutSeconds": self.task_timeout_s,
        }
        if ep.tls_fingerprint_sha256:
            config["felhom:pve.tlsFingerprint"] = ep.tls_fingerprint_sha256
        if ep.ca_bundle:
            config["felhom:pve.caBundle"] = ep.ca_bundle
        return config


def parse_vmids(text: str) -> range:
    """``9100-9119`` (inclusive) as a range; a single id is a range of one."""
    lo, dash, hi = text.strip().partition("-")
    try:
        first, last = int(lo), int(hi if dash else lo)
    except ValueError:
        raise ConfigError(PREFIX + "VMIDS", f"expected FIRST-LAST, got {text!r}") from None
    if not 100 <= first <= last <= 999_999_999:
        raise ConfigError(PREFIX + "VMIDS", f"expected 100 <= FIRST <= LAST, got {text!r}")
    return range(first, last + 1)


def wants_real_node(env: Mapping[str, str]) -> bool:
    """True when any target variable is set: then all required ones must be."""
    return any(env.get(PREFIX + name) for name in TARGET_VARS)


def _common(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings that apply to both targets (storages, bridge, template, sizes)."""
    values: dict[str, Any] = {}
    for key, name in (
        ("template", "TEMPLATE"),
        ("rootfs_storage", "ROOTFS_STORAGE"),
        ("archive_storage", "ARCHIVE_STORAGE"),
        ("bridge", "BRIDGE"),
    ):
        if env.get(PREFIX + name):
            values[key] = env[PREFIX + name]
    for key, name in (
        ("guest_ssh_port", "GUEST_SSH_PORT"),
        ("guests", "GUESTS"),
        ("task_timeout_s", "TASK_TIMEOUT"),
    ):
        if env.get(PREFIX + name):
            try:
                values[key] = int(env[PREFIX + name])
            except ValueError:
                text = env[PREFIX + name]
                raise ConfigError(PREFIX + name, f"expected an integer, got {text!r}") from None
    return values


def target_from_env(env: Mapping[str, str] | None = None) -> Target:
    """The real node the variables describe; every missing variable named at once."""
    env = os.environ if env is None else env
    missing = [PREFIX + name for name in REQUIRED if not env.get(PREFIX + name)]
    if not (env.get(PREFIX + "TLS_FINGERPRINT") or env.get(PREFIX + "CA_BUNDLE")):
        missing.append(PREFIX + "TLS_FINGERPRINT (or " + PREFIX + "CA_BUNDLE)")
    if missing:
        raise ConfigError("acceptance target", "missing " + ", ".join(missing))
    endpoint = PveEndpoint(
        url=env[PREFIX + "ENDPOINT"],
        node=env[PREFIX + "NODE"],
        token_id=env[PREFIX + "TOKEN_ID"],
        token_secret=env[PREFIX + "TOKEN_SECRET"],
        tls_fingerprint_sha256=env.get(PREFIX + "TLS_FINGERPRINT") or None,
        ca_bundle=env.get(PREFIX + "CA_BUNDLE") or None,
    )
    shell = NodeShell(
        host=env[PREFIX + "SHELL_HOST"],
        port=int(env.get(PREFIX + "SHELL_PORT") or 22),
        user=env.get(PREFIX + "SHELL_USER") or "root",
        host_key=env[PREFIX + "SHELL_HOSTKEY"],
        private_key_path=env[PREFIX + "SHELL_KEY"],
    )
    return Target(endpoint, shell, parse_vmids(env[PREFIX + "VMIDS"]), **_common(env))


def target_from_sim(endpoint_json: Mapping[str, Any], env: Mapping[str, str]) -> Target:
    """The simulator as a target: what an operator would put into the variables."""
    shell = endpoint_json["node_shell"]
    return Target(
        PveEndpoint.from_endpoint_json(endpoint_json),
        NodeShell(
            host=str(shell["host"]),
            port=int(shell["port"]),
            user=str(shell["user"]),
            host_key=str(shell["host_public_key"]),
            private_key_path=str(shell["client_private_key_path"]),
        ),
        parse_vmids(env.get(PREFIX + "VMIDS") or "9100-9119"),
        guest_ssh_port=int(endpoint_json.get("guest_ssh_port", 22)),
        simulated=True,
        **{k: v for k, v in _common(env).items() if k != "guest_ssh_port"},
    )


def env_for_sim(endpoint_json: Mapping[str, Any], vmids: str) -> dict[str, str]:
    """The ``FELHOM_ACC_*`` variables that point the suite at a running simulator as if it
    were a real node (the guard-rail tests run the suite this way)."""
    target = target_from_sim(endpoint_json, {PREFIX + "VMIDS": vmids})
    ep, sh = target.endpoint, target.shell
    return {
        PREFIX + "ENDPOINT": ep.url,
        PREFIX + "NODE": ep.node,
        PREFIX + "TOKEN_ID": ep.token_id,
        PREFIX + "TOKEN_SECRET": ep.token_secret,
        PREFIX + "TLS_FINGERPRINT": ep.tls_fingerprint_sha256 or "",
        PREFIX + "SHELL_HOST": sh.host,
        PREFIX + "SHELL_PORT": str(sh.port),
        PREFIX + "SHELL_USER": sh.user,
        PREFIX + "SHELL_HOSTKEY": sh.host_key,
        PREFIX + "SHELL_KEY": sh.private_key_path,
        PREFIX + "VMIDS": vmids,
        PREFIX + "GUEST_SSH_PORT": str(target.guest_ssh_port),
    }
