"""Pending changes and hot-plug: how ``PUT …/config`` lands on a stopped or running CT.

Source: pve-container ``src/PVE/LXC/Config.pm`` ``update_pct_config`` (every change is first
written to the ``[pve:pending]`` section), ``vmconfig_hotplug_pending`` (running CT) and
``vmconfig_apply_pending`` (stopped CT, and every start: ``PVE/LXC.pm`` ``vm_start``);
``AbstractConfig.pm`` ``load_current_config``, ``cleanup_pending``; pve-common
``GuestHelpers.pm`` ``config_with_pending_array`` (``GET …/pending``).

On a running CT:

* "fast-plug" options are written at once: ``description``, ``onboot``, ``startup``,
  ``protection``, ``hostname``, ``hookscript``, ``cores``, ``tags``, ``lock``
  (``$LXC_FASTPLUG_OPTIONS``; the guest sees a new hostname only at its next start);
* hot-plugged: ``memory``, ``swap``, ``cpulimit``, ``cpuunits`` (cgroup limits), ``netN``
  (``update_net``), a *new* ``mpN`` (an existing key stays pending), deleting ``unusedN``
  (the volume is freed), ``swap``/``cpulimit``/``cpuunits``/``netN``;
* everything else stays in ``pending`` until the next start or a ``revert``.

The read side is here too: ``GET …/config`` (pending values merged in unless ``current``)
and ``GET …/pending``.

Not imitated: hot-plug failures (``unable to hotplug …`` warnings: every listed change
succeeds), ``devN`` (root-only, refused earlier), SDN IPAM updates, forced deletes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import pctconf
from felhom_provider.sim.errors import SimApiError

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.state import SimState

# Applies one key to the config: (ct, key, new value, or None to delete).
Applier = Callable[["Container", str, "str | None"], None]

FASTPLUG = frozenset(
    {"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores"}
    | {"tags", "lock"}
)
HOTPLUG_SET = frozenset({"memory", "swap", "cpulimit", "cpuunits"})
HOTPLUG_DELETE = frozenset({"swap", "cpulimit", "cpuunits"})
_NET = re.compile(r"^net\d+$")
_MP = re.compile(r"^mp\d+$")
_UNUSED = re.compile(r"^unused\d+$")
_SPLIT = re.compile(r"[;, ]+")


def pending_delete(ct: Container) -> list[str]:
    """Keys queued for deletion (``parse_pending_delete``; a leading ``!`` is "force")."""
    return [d.lstrip("!") for d in _SPLIT.split(ct.pending.get("delete", "")) if d]


def _set_pending_delete(ct: Container, keys: list[str]) -> None:
    if keys:
        ct.pending["delete"] = ",".join(dict.fromkeys(keys))
    else:
        ct.pending.pop("delete", None)


def check_protection(ct: Container, message: str) -> None:
    """``check_protection``: ``<message> - protection mode enabled``."""
    if ct.conf.get("protection") == "1":
        raise SimApiError(f"{message} - protection mode enabled")


def queue(ct: Container, changes: dict[str, str], delete: list[str], revert: list[str]) -> set[str]:
    """``update_pct_config``'s first half: revert, queue deletes and values; returns the
    modified keys. Raises PVE's refusals (required keys, protection, read-only)."""
    for key in revert:
        ct.pending.pop(key, None)
        _set_pending_delete(ct, [d for d in pending_delete(ct) if d != key])
    modified: set[str] = set()
    for key in delete:
        if key not in ct.conf and key not in ct.pending:
            continue  # PVE warns "cannot delete '<key>' - not set in current configuration!"
        modified.add(key)
        if key in ("memory", "rootfs", "ostype"):
            raise SimApiError(f"unable to delete required option '{key}'")
        if _UNUSED.match(key) or _MP.match(key):
            check_protection(ct, f"can't remove CT {ct.vmid} drive '{key}'")
        if key == "unprivileged":
            raise SimApiError(f"unable to delete read-only option: '{key}'")
        _set_pending_delete(ct, [*pending_delete(ct), key])
    for key in sorted(changes):
        modified.add(key)
        if _MP.match(key) or key == "rootfs":
            check_protection(ct, f"can't update CT {ct.vmid} drive '{key}'")
        if key == "unprivileged":
            raise SimApiError(f"unable to modify read-only option: '{key}'")
        ct.pending[key] = changes[key]
        _set_pending_delete(ct, [d for d in pending_delete(ct) if d != key])
    _cleanup(ct)
    return modified


def _cleanup(ct: Container) -> None:
    """``cleanup_pending``: drop pending values equal to the current ones and deletes of
    keys that are not set."""
    for key in [k for k in ct.pending if k != "delete"]:
        if ct.conf.get(key) == ct.pending[key]:
            del ct.pending[key]
    _set_pending_delete(ct, [d for d in pending_delete(ct) if d in ct.conf])


def hotplug(ct: Container, selection: set[str], apply: Applier) -> None:
    """``vmconfig_hotplug_pending`` for a running CT, limited to ``selection``."""
    for key in [k for k in sorted(ct.pending) if k != "delete" and k in selection]:
        if key in FASTPLUG:
            apply(ct, key, ct.pending.pop(key))
    for key in [d for d in pending_delete(ct) if d in selection]:
        if key in FASTPLUG or key in HOTPLUG_DELETE or _NET.match(key) or _UNUSED.match(key):
            apply(ct, key, None)
            _set_pending_delete(ct, [d for d in pending_delete(ct) if d != key])
    for key in [k for k in sorted(ct.pending) if k != "delete" and k in selection]:
        hot = key in HOTPLUG_SET or _NET.match(key) or (_MP.match(key) and key not in ct.conf)
        if hot:
            apply(ct, key, ct.pending.pop(key))


def apply_all(ct: Container, apply: Applier, selection: set[str] | None = None) -> None:
    """``vmconfig_apply_pending``: deletes first, then values (stopped CT or at start)."""
    for key in pending_delete(ct):
        if selection is None or key in selection:
            apply(ct, key, None)
            _set_pending_delete(ct, [d for d in pending_delete(ct) if d != key])
    _cleanup(ct)
    for key in [k for k in sorted(ct.pending) if k != "delete"]:
        if selection is None or key in selection:
            apply(ct, key, ct.pending.pop(key))


def current(ct: Container, *, current_only: bool) -> dict[str, str]:
    """``load_current_config``: the config with pending values and deletes applied, unless
    ``current_only`` (the ``current`` parameter)."""
    conf = dict(ct.conf)
    if not current_only:
        conf.update({k: v for k, v in ct.pending.items() if k != "delete"})
        for key in pending_delete(ct):
            conf.pop(key, None)
    return conf


def pending_items(ct: Container) -> list[dict[str, Any]]:
    """``config_with_pending_array``: one item per key with ``value``/``pending``/``delete``."""
    deletes = set(pending_delete(ct))
    items: list[dict[str, Any]] = []
    typed_conf = pctconf.typed(ct.conf)
    typed_pending = pctconf.typed({k: v for k, v in ct.pending.items() if k != "delete"})
    for key in sorted(set(ct.conf) | set(typed_pending) | deletes):
        item: dict[str, Any] = {"key": key}
        if key in typed_conf:
            item["value"] = typed_conf[key]
        if key in typed_pending:
            item["pending"] = typed_pending[key]
        if key in deletes:
            item["delete"] = 1
        items.append(item)
    items.append({"key": "digest", "value": ct.digest()})
    return items


def get_config(
    state: SimState, actor: str, vmid: int, *, current_only: bool = False
) -> dict[str, Any]:
    """``GET …/config``: typed values plus ``digest``; pending values merged in unless
    ``current_only`` (the ``current`` parameter, ``load_current_config``)."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Audit"])
    ct = state.ct(vmid)
    with state.mutex:
        res = pctconf.typed(current(ct, current_only=current_only))
        res["digest"] = ct.digest()
        if ct.raw_lxc:
            res["lxc"] = [[key, value] for key, value in ct.raw_lxc]
    return res


def get_pending(state: SimState, actor: str, vmid: int) -> list[dict[str, Any]]:
    """``GET …/pending``: every key with its current and pending value, and deletes."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Audit"])
    ct = state.ct(vmid)
    with state.mutex:
        return pending_items(ct)
