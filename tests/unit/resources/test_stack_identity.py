"""``StackIdentity``: a random id drawn once and kept; markers that take it at preview and on
upgrade (unknown owner, a guest or golden image made before the identity existed)."""

from __future__ import annotations

from typing import Any

import dill
import pytest
from pulumi.output import Unknown

from felhom_provider.program import owner_marker
from felhom_provider.resources.golden_image import GoldenImageProvider
from felhom_provider.resources.guest import FelhomGuestProvider
from felhom_provider.resources.stack_identity import (
    StackIdentityProvider,
    check_identity,
    new_stack_id,
)
from felhom_provider.spec.guest import GUEST
from felhom_provider.spec.stack import STACK_ID
from tests.unit.resources._fakes import unknown, wire_inputs

provider = StackIdentityProvider()


def created(**inputs: Any) -> tuple[str, dict[str, Any]]:
    result = provider.create(provider.check({}, inputs).inputs)
    assert result.outs is not None
    return result.id, result.outs


def test_create_draws_a_fresh_id_that_fits_every_marker() -> None:
    ids = {created()[1]["stackId"] for _ in range(64)}
    assert len(ids) == 64, "two stacks never draw the same id"
    for stack_id in ids:
        assert STACK_ID(stack_id) == stack_id and len(stack_id) == 32
        marker = owner_marker("felhom", "dev", "acme-web", stack_id)
        assert GUEST.by_key["owner"].validate(marker) == marker
    id_, outs = created()
    assert id_ == outs["stackId"], "the resource's id is the stack id"


def test_create_takes_the_initial_id_of_a_recovered_stack() -> None:
    assert created(initial="3f6c1e2a-9b7d-4c1e") == (
        "3f6c1e2a-9b7d-4c1e",
        {"stackId": "3f6c1e2a-9b7d-4c1e"},
    )


def test_diff_never_changes_the_id() -> None:
    olds = {"stackId": "a" * 32}
    for news in ({}, {"initial": "b" * 32}, {"initial": unknown()}):
        result = provider.diff("a" * 32, olds, news)
        assert result.changes is False and result.replaces == []


def test_read_and_update_keep_the_id() -> None:
    read = provider.read("a" * 32, {"stackId": "a" * 32})
    assert (read.id, read.outs) == ("a" * 32, {"stackId": "a" * 32})
    # A state entry with no outputs (an interrupted import) keeps the id it is stored under.
    assert provider.read("c" * 32, {}).outs == {"stackId": "c" * 32}
    updated = provider.update("a" * 32, {"stackId": "a" * 32}, {"initial": "b" * 32})
    assert updated.outs == {"stackId": "a" * 32}
    provider.delete("a" * 32, {"stackId": "a" * 32})  # nothing outside the state: no I/O


@pytest.mark.parametrize(
    ("news", "prop"),
    [
        ({"initial": "short"}, "initial"),
        ({"initial": "a" * 32 + "\n"}, "initial"),
        ({"initial": "ABCDEFGH12"}, "initial"),
        ({"initial": 12345678.0}, "initial"),
        ({"seed": "a" * 32}, "seed"),
    ],
)
def test_check_refuses_a_bad_initial_id_and_unknown_inputs(news: dict[str, Any], prop: str) -> None:
    failures = check_identity(news).failures
    assert [f.property for f in failures] == [prop]


def test_check_lets_an_unknown_initial_through_and_keeps_the_provider() -> None:
    result = check_identity({"initial": unknown(), "__provider": "blob", "stackId": None})
    assert result.failures == []
    assert set(result.inputs) == {"initial", "__provider"}


def test_the_provider_pickles_with_nothing_in_it() -> None:
    again = dill.loads(dill.dumps(StackIdentityProvider()))
    assert type(again) is StackIdentityProvider and vars(again) == {}


def test_new_ids_are_hex() -> None:
    assert int(new_stack_id(), 16) >= 0


def test_a_new_guest_with_an_unknown_owner_previews_as_a_create() -> None:
    result = FelhomGuestProvider().check({}, wire_inputs(owner=unknown()))
    assert result.failures == []
    assert isinstance(result.inputs["owner"], Unknown)


def test_an_existing_guest_keeps_its_marker_when_the_id_arrives() -> None:
    """State made before the stack identity: the old marker sticks, no update, no replace."""
    guest = FelhomGuestProvider()
    olds = {**guest.check({}, wire_inputs()).inputs, "vmid": 100, "mac": "BC:24:11:00:00:01"}
    assert olds["owner"] == "felhom/dev/acme-web"
    for owner in (unknown(), owner_marker("felhom", "dev", "acme-web", "d" * 32)):
        news = guest.check(olds, wire_inputs(owner=owner)).inputs
        assert news["owner"] == "felhom/dev/acme-web"
        assert guest.diff("100", olds, news).changes is False
    # A renamed stack: the marker names the old stack and stays.
    renamed = guest.check(olds, wire_inputs(owner=owner_marker("felhom", "prod", "acme-web")))
    assert renamed.inputs["owner"] == "felhom/dev/acme-web"


def test_the_golden_image_previews_with_an_unknown_owner_and_ignores_a_new_one() -> None:
    golden = GoldenImageProvider()
    recipe = {"name": "golden", "node": "pve1", "template": "local:vztmpl/debian-13.tar.zst"}
    fresh = golden.check({}, {**recipe, "owner": unknown()})
    assert fresh.failures == []
    olds = {
        **golden.check({}, {**recipe, "owner": "felhom/dev/golden"}).inputs,
        "archive": "local:backup/a.tar.zst",
    }
    for owner in (unknown(), owner_marker("felhom", "dev", "golden", "d" * 32)):
        news = golden.check(olds, {**recipe, "owner": owner}).inputs
        assert golden.diff("local:backup/a.tar.zst", olds, news).changes is False
