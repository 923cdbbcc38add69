"""The pinned VMID's bounds through the public check API: 100 and 999999999 pass, 99 and
1000000000 fail naming the field (PVE's ``pve-vmid`` format, ``PVE/JSONSchema.pm``)."""

from __future__ import annotations

import pytest

from felhom_provider.resources.guest import FelhomGuestProvider
from tests.unit.resources._fakes import wire_inputs


@pytest.mark.parametrize("vmid", [100.0, 101.0, 999_999_999.0])
def test_pinned_vmid_inside_the_bounds_passes(vmid: float) -> None:
    result = FelhomGuestProvider().check({}, wire_inputs(vmid=vmid))
    assert not result.failures, result.failures
    assert result.inputs is not None and int(result.inputs["vmid"]) == int(vmid)


@pytest.mark.parametrize("vmid", [99.0, 0.0, -1.0, 1_000_000_000.0])
def test_pinned_vmid_outside_the_bounds_fails_naming_the_field(vmid: float) -> None:
    result = FelhomGuestProvider().check({}, wire_inputs(vmid=vmid))
    fields = [f.property for f in result.failures or []]
    assert "vmid" in fields, result.failures
