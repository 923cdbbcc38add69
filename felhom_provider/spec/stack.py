"""Stack-level keys (``felhom:<key>``) beyond the connection settings, declared once.

The connection keys (``pve``, ``pveTokenSecret``, ``nodeShell``, ``guestSshPort``,
``limits``) are parsed by ``felhom_provider.settings``; these are the program's. Some reach
every guest as an input (``protect``, ``sshAuthorizedKeys``, ``hostKeyCheck``,
``restarts``); ``fleet`` and ``rollout`` are read by the fleet runner and the golden roll-out.
"""

from __future__ import annotations

from felhom_provider.spec import formats as fmt
from felhom_provider.spec.field import (
    Change,
    Field,
    Table,
    boolean,
    integer,
    one_of,
    pattern,
    str_list,
    sub_object,
)
from felhom_provider.spec.guest import HOST_KEY_CHECKS, RESTART_MODES

_FLEET = (
    Field(
        "tags",
        "list",
        "runner selection tags",
        str_list(fmt.TAG, max_items=64),
        Change.LIVE,
        default=[],
    ),
)
_ROLLOUT = (
    Field("maxParallel", "int", "guests rolled at once", integer(1, 1024), Change.LIVE, default=1),
    Field(
        "pauseOnFailure",
        "bool",
        "stop the roll-out at the first failed guest",
        boolean,
        Change.LIVE,
        default=True,
    ),
)

STACK_ID = pattern(r"[a-z0-9][a-z0-9-]{7,63}", "8-64 lower-case letters, digits or '-'")

STACK = Table(
    (
        Field(
            "stackId",
            "string",
            "overrides the stack's id (part of every ownership marker), which is otherwise "
            "drawn at the first `up` and kept in state; set it only to recover a lost state",
            STACK_ID,
            Change.FIXED,
            default_doc="the `StackIdentity` resource's id",
        ),
        Field(
            "protect",
            "bool",
            "guests get Pulumi `protect` and PVE `protection=1`",
            boolean,
            Change.LIVE,
            default=True,
        ),
        Field(
            "sshAuthorizedKeys",
            "list",
            "operator SSH keys, in every guest's root authorized_keys",
            str_list(fmt.authorized_key, max_items=256),
            Change.LIVE,
            default=[],
        ),
        Field(
            "hostKeyCheck",
            "string",
            "`handshake`, `nodeShell` or `both`: how guest host keys are verified",
            one_of(*HOST_KEY_CHECKS),
            Change.LIVE,
            default_doc="`both` with `felhom:nodeShell`, else `handshake`",
        ),
        Field(
            "restarts",
            "string",
            "`immediate` or `deferred`: restart a running guest for a change that needs it or wait",
            one_of(*RESTART_MODES),
            Change.LIVE,
            default="immediate",
        ),
        Field(
            "fleet",
            "object",
            "`{tags: [str]}`: which fleet runners take this stack",
            sub_object(_FLEET),
            Change.LIVE,
            default={"tags": []},
        ),
        Field(
            "rollout",
            "object",
            "`{maxParallel (1), pauseOnFailure (true)}`: golden roll-out pacing",
            sub_object(_ROLLOUT),
            Change.LIVE,
            default={"maxParallel": 1, "pauseOnFailure": True},
        ),
    )
)
