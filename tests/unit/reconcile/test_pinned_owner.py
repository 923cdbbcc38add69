"""A pinned VMID that carries another stack's marker is refused by name, never adopted."""

from __future__ import annotations

import pytest

from felhom_provider.errors import OwnershipError
from felhom_provider.reconcile.model import marker_for

from .fakes import FakePve
from .test_engine_fakes import OWNER, engine, spec

OTHER_ID = "0f" * 16


@pytest.mark.parametrize(
    ("theirs", "recovery"),
    [
        # The same stack name in another backend: only the stack id differs.
        (f"{OTHER_ID}:{OWNER}", f"set `felhom:stackId` to {OTHER_ID}"),
        # Another stack altogether, with a marker from before stack ids.
        ("felhom/prod/acme-web", None),
    ],
)
def test_another_owners_pinned_ct_is_refused_untouched(theirs: str, recovery: str | None) -> None:
    pve = FakePve()
    pve.cts[150] = {"hostname": "theirs", "description": f"{marker_for(theirs)}\n"}
    mine = f"{'a1' * 16}:{OWNER}"
    with pytest.raises(OwnershipError, match="owned by another stack") as info:
        engine(pve).create(spec(vmid=150, owner=mine))
    message = str(info.value)
    assert repr(theirs) in message and repr(mine) in message
    assert (recovery in message) if recovery else "felhom:stackId" not in message
    assert pve.cts[150] == {"hostname": "theirs", "description": f"{marker_for(theirs)}\n"}
    assert not [c for c in pve.calls if c[0] in ("restore_lxc", "destroy", "put_config")]
