"""Handlers for storage and backup endpoints: storage list/content, volume attributes and
delete, vzdump.

Rules and their gaps are in ``backup.py`` and ``volume_attrs.py``.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim import backup, volume_attrs
from felhom_provider.sim.request import ApiRequest


def storage_index(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET /nodes/{node}/storage``. Not imitated: ``storage``/``target``/``format`` filters."""
    req.node()
    return backup.storage_list(req.state, req.actor, req.params.get("content"))


def content(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET …/storage/{storage}/content``.

    Not imitated: ``used`` is a guess; no ``verification`` or ``encrypted`` fields.
    """
    req.node()
    p = req.params
    vmid = p.get("vmid")
    return backup.storage_content(
        req.state,
        req.actor,
        str(p["storage"]),
        p.get("content"),
        int(vmid) if vmid is not None else None,
    )


def delete_volume(req: ApiRequest) -> str:
    """``DELETE …/storage/{storage}/content/{volume}``. Not imitated: ``delay`` (always a task)."""
    req.node()
    p = req.params
    return backup.delete_volume(req.state, req.actor, p.get("storage"), str(p["volume"]))


def update_attributes(req: ApiRequest) -> None:
    """``PUT …/storage/{storage}/content/{volume}``: ``notes``/``protected`` (``volume_attrs``)."""
    req.node()
    p = req.params
    attrs: dict[str, Any] = {k: p[k] for k in ("notes", "protected") if k in p}
    volume_attrs.update_attributes(req.state, req.actor, p.get("storage"), str(p["volume"]), attrs)


def vzdump(req: ApiRequest) -> str:
    """``POST /nodes/{node}/vzdump``. Not imitated: ``all``/``pool``/``exclude``, pruning, mail."""
    req.node()
    return backup.vzdump(req.state, req.actor, req.params)


def extractconfig(req: ApiRequest) -> str:
    """``GET /nodes/{node}/vzdump/extractconfig``. Not imitated: PBS archives."""
    req.node()
    return backup.extractconfig(req.state, req.actor, str(req.params["volume"]))
