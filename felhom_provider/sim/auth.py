"""Users, API tokens, roles, ACLs, tickets and permission checks.

Modelled on pve-access-control: a token's id is ``user@realm!tokenid`` and it is the acting
identity of a token request (pve-manager ``PVE/HTTPServer.pm``); a privilege-separated token
gets the intersection of its own ACL privileges with its user's (``RPCEnvironment.pm``
``permissions``); ``root@pam`` has every privilege. Hard-coded ``root@pam`` checks compare
the literal string, so ``root@pam!x`` is never root.

Not imitated: groups, pools as ACL targets, realms other than pam/pve, TFA, expiry of
tokens, RSA-signed tickets (tickets here are HMAC-signed; clients treat them as opaque).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from felhom_provider.sim.errors import AuthFailedError, PermissionCheckError
from felhom_provider.sim.persist import atomic_write_json, read_json

ROOT = "root@pam"
AGENT_USER = "felhom-agent@pve"
AGENT_TOKEN = f"{AGENT_USER}!agent"
WEAK_TOKEN = f"{AGENT_USER}!weak"
#: The simulator's own control credential (``/_sim/*`` only). It is a token with no ACL, so
#: it has no privilege on anything PVE has; no PVE token may use the control API.
ADMIN_USER = "felhom-sim@pve"
ADMIN_TOKEN = f"{ADMIN_USER}!control"
TICKET_LIFETIME = 7200

ALL_PRIVILEGES: tuple[str, ...] = (
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "Sys.Incoming",
    "Sys.AccessNetwork",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Pool.Allocate",
    "Pool.Audit",
    "Permissions.Modify",
    "User.Modify",
    "Group.Allocate",
    "Realm.Allocate",
    "Realm.AllocateUser",
)

# The least privileges FelhomGuest needs as a token (see docs/simulator.md for the why of each).
FELHOM_AGENT_PRIVILEGES: tuple[str, ...] = (
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Config.CPU",
    "VM.Config.Disk",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.PowerMgmt",
    "Datastore.AllocateSpace",
    "Datastore.Audit",
    "SDN.Use",
    "Sys.Audit",
)
WEAK_PRIVILEGES: tuple[str, ...] = ("VM.Audit", "Datastore.Audit", "Sys.Audit")

ROLES: dict[str, tuple[str, ...]] = {
    "Administrator": ALL_PRIVILEGES,
    "FelhomAgent": FELHOM_AGENT_PRIVILEGES,
    "FelhomAudit": WEAK_PRIVILEGES,
    "NoAccess": (),
}


@dataclass
class Acl:
    """One ACL entry: ``ugid`` (user or token id) has ``role`` on ``path``."""

    path: str
    ugid: str
    role: str
    propagate: bool = True


@dataclass
class AuthDb:
    """Credentials and ACLs; persisted to ``auth.json`` (holds secrets, mode 0600)."""

    root_password: str
    token_secrets: dict[str, str]
    privsep: dict[str, bool]
    ticket_key: str
    acls: list[Acl] = field(default_factory=list)

    @classmethod
    def fresh(cls) -> AuthDb:
        """New random credentials and the preloaded felhom ACLs."""
        return cls(
            root_password=secrets.token_urlsafe(16),
            token_secrets={AGENT_TOKEN: _uuid(), WEAK_TOKEN: _uuid(), ADMIN_TOKEN: _uuid()},
            privsep={AGENT_TOKEN: True, WEAK_TOKEN: True, ADMIN_TOKEN: True},
            ticket_key=secrets.token_hex(32),
            acls=[
                Acl("/", AGENT_USER, "FelhomAgent"),
                Acl("/", AGENT_TOKEN, "FelhomAgent"),
                Acl("/", WEAK_TOKEN, "FelhomAudit"),
            ],
        )

    @classmethod
    def load_or_create(cls, path: Path) -> AuthDb:
        """Read ``path`` or create and save fresh credentials."""
        data = read_json(path)
        if data is None:
            db = cls.fresh()
            db.save(path)
            return db
        data["acls"] = [Acl(**a) for a in data.get("acls", [])]
        db = cls(**data)
        if ADMIN_TOKEN not in db.token_secrets:  # a state dir from before the admin token
            db.token_secrets[ADMIN_TOKEN] = _uuid()
            db.privsep[ADMIN_TOKEN] = True
            db.save(path)
        return db

    def save(self, path: Path) -> None:
        """Persist with owner-only permissions."""
        data: dict[str, Any] = {
            "root_password": self.root_password,
            "token_secrets": self.token_secrets,
            "privsep": self.privsep,
            "ticket_key": self.ticket_key,
            "acls": [a.__dict__ for a in self.acls],
        }
        atomic_write_json(path, data, mode=0o600)

    # -- authentication -------------------------------------------------------------

    def check_token(self, header: str) -> str:
        """Parse ``PVEAPIToken=USER@REALM!TOKENID=SECRET``; return the token id or raise 401."""
        value = header.partition("=")[2] if header.startswith("PVEAPIToken=") else ""
        token_id, sep, secret = value.rpartition("=")
        if not sep:
            token_id, sep, secret = value.rpartition(":")
        expected = self.token_secrets.get(token_id)
        if not expected or not hmac.compare_digest(expected, secret):
            raise AuthFailedError()
        return token_id

    def _sign(self, text: str) -> str:
        mac = hmac.new(self.ticket_key.encode(), text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue_ticket(self, user: str) -> tuple[str, str]:
        """A login ticket and its CSRF prevention token."""
        stamp = f"{int(time.time()):08X}"
        plain = f"PVE:{user}:{stamp}"
        return (
            f"{plain}::{self._sign(plain)}",
            f"{stamp}:{self._sign('csrf:' + user + ':' + stamp)}",
        )

    def verify_ticket(self, ticket: str) -> str:
        """The user a valid, unexpired ticket belongs to; else 401."""
        plain, _, sig = ticket.partition("::")
        parts = plain.split(":")
        if len(parts) != 3 or parts[0] != "PVE" or not hmac.compare_digest(self._sign(plain), sig):
            raise AuthFailedError()
        if time.time() - int(parts[2], 16) > TICKET_LIFETIME:
            raise AuthFailedError()
        return parts[1]

    def verify_csrf(self, user: str, token: str) -> bool:
        """True when ``token`` is the CSRF token issued with ``user``'s ticket."""
        stamp, _, sig = token.partition(":")
        return hmac.compare_digest(self._sign("csrf:" + user + ":" + stamp), sig)

    def login(self, username: str, password: str, realm: str | None = None) -> str:
        """Password (or ticket renewal) login; only ``root@pam`` has a password."""
        user = username if "@" in username else f"{username}@{realm or 'pam'}"
        if password.startswith("PVE:"):
            if self.verify_ticket(password) == user:
                return user
            raise AuthFailedError()
        if user == ROOT and hmac.compare_digest(password, self.root_password):
            return user
        raise AuthFailedError()

    # -- authorisation --------------------------------------------------------------

    def _acl_privs(self, ugid: str, path: str) -> set[str]:
        """Privileges ACLs give ``ugid`` on ``path``: the deepest matching entries win."""
        best_depth = -1
        privs: set[str] = set()
        for acl in self.acls:
            if acl.ugid != ugid:
                continue
            prefix = acl.path.rstrip("/")
            exact = path == acl.path or path.rstrip("/") == prefix
            inherited = acl.propagate and path.startswith(prefix + "/")
            if not (exact or inherited):
                continue
            depth = 0 if prefix == "" else prefix.count("/")
            if depth > best_depth:
                best_depth, privs = depth, set()
            if depth == best_depth:
                privs |= set(ROLES.get(acl.role, ()))
        return privs

    def privileges(self, authid: str, path: str) -> set[str]:
        """Effective privileges of a user or token on ``path``."""
        if authid == ROOT:
            return set(ALL_PRIVILEGES)
        user, _, token = authid.partition("!")
        user_privs = set(ALL_PRIVILEGES) if user == ROOT else self._acl_privs(user, path)
        if not token:
            return user_privs
        if authid not in self.token_secrets:
            return set()
        if not self.privsep.get(authid, True):
            return user_privs
        return user_privs & self._acl_privs(authid, path)

    def has(self, authid: str, path: str, priv: str) -> bool:
        """True when ``authid`` holds ``priv`` on ``path``."""
        return priv in self.privileges(authid, path)

    def check(self, authid: str, path: str, privs: list[str], *, any_: bool = False) -> None:
        """Raise 403 ``Permission check failed (<path>, <privs>)`` like ``RPCEnvironment``."""
        have = self.privileges(authid, path)
        if any_:
            if not have.intersection(privs):
                raise PermissionCheckError(f"{path}, {'|'.join(privs)}")
            return
        for priv in privs:
            if priv not in have:
                raise PermissionCheckError(f"{path}, {priv}")

    def permission_paths(self) -> list[str]:
        """Paths ``GET /access/permissions`` reports on (fixed roots plus ACL paths)."""
        base = ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"]
        return sorted(set(base) | {a.path for a in self.acls})


def _uuid() -> str:
    # PVE token secrets are UUIDs.
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
