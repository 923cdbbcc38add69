"""The simplest complete bring-up and tear-down, with exact mutating-call counts."""

from __future__ import annotations

from tests.engine.conftest import Env


def test_create_read_delete(env: Env) -> None:
    engine = env.engine()
    spec = env.spec()
    state = engine.create(spec)
    assert state.status == "running" and state.ipv4 and state.host_keys
    assert env.client.stats.mutating_by_endpoint() == {
        "POST /nodes/{node}/lxc": 1,
        # Takes the never-started mark out of the description before the first start.
        "PUT /nodes/{node}/lxc/{vmid}/config": 1,
        "POST /nodes/{node}/lxc/{vmid}/status/start": 1,
    }
    again = engine.read(state.vmid, spec.owner)
    assert again is not None and again.to_dict() == state.to_dict()
    engine.delete(state.vmid, spec.owner)
    assert env.cts() == [] and engine.read(state.vmid, spec.owner) is None
