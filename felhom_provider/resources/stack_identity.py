"""``StackIdentity``: the stack's own random id, held in the stack's state.

Every ownership marker starts with it (``<stackId>:<project>/<stack>/<name>``, see
docs/stack-config.md "Ownership markers"), so two stacks of the same name in two backends
never share a marker, while ``pulumi stack rename`` (which keeps the state) keeps it. It
lives in state rather than in the stack's config file because a config file in git is
shared by every backend that uses it.

No PVE call: ``create`` draws the id (or takes ``initial``, the recovery path: the id of a
stack whose state was lost), ``read`` keeps it, ``diff`` never reports a change (a later
``initial`` is ignored; the program lets an explicit ``felhom:stackId`` win over it),
``delete`` forgets it. At the first preview the id is unknown; the guests that take it in
their marker show as creates and their ``check`` lets the unknown value through.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from felhom_provider.resources._diff import PROVIDER_KEY, is_unknown
from felhom_provider.spec.stack import STACK_ID

#: The one input: the id to take at create instead of a random one.
KEY_INITIAL = "initial"
#: The one output: the stack's id.
KEY_STACK_ID = "stackId"
#: Type token of the resource (``pulumi-python:dynamic/<module>:<name>``).
TYPE_TOKEN = "pulumi-python:dynamic/felhom:StackIdentity"


def new_stack_id() -> str:
    """A fresh random id: 32 lower-case hex digits (128 bits, never guessed or repeated)."""
    return secrets.token_hex(16)


def check_identity(news: dict[str, Any]) -> CheckResult:
    """Validate ``initial`` (the ``felhom:stackId`` format) and refuse any other input."""
    failures: list[CheckFailure] = []
    inputs: dict[str, Any] = {}
    initial = news.get(KEY_INITIAL)
    if is_unknown(initial):
        inputs[KEY_INITIAL] = initial
    elif initial is not None:
        try:
            inputs[KEY_INITIAL] = STACK_ID(initial)
        except ValueError as exc:
            failures.append(CheckFailure(KEY_INITIAL, f"{KEY_INITIAL}: {exc}"))
    extra = sorted(set(news) - {KEY_INITIAL, KEY_STACK_ID, PROVIDER_KEY})
    if extra:
        failures.append(CheckFailure(extra[0], f"{extra[0]}: unknown input(s) {extra}"))
    if PROVIDER_KEY in news:
        inputs[PROVIDER_KEY] = news[PROVIDER_KEY]
    return CheckResult(inputs, failures)


class StackIdentityProvider(ResourceProvider):
    """The dynamic provider behind ``StackIdentity``; it holds nothing (pickled by class)."""

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        del state

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate the inputs without I/O."""
        return check_identity(news)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        """Never a change: the id is the stack's for its whole life."""
        return DiffResult(changes=False, replaces=[], stables=[KEY_STACK_ID])

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Take ``initial`` or draw a random id; the resource's id is the stack id itself."""
        initial = props.get(KEY_INITIAL)
        stack_id = str(initial) if initial else new_stack_id()
        return CreateResult(stack_id, {KEY_STACK_ID: stack_id})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh keeps the id (there is nothing outside the state to read)."""
        stack_id = str(props.get(KEY_STACK_ID) or id_)
        return ReadResult(id_, {KEY_STACK_ID: stack_id})

    def update(self, _id: str, olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        """Never planned (``diff`` reports no change); keeps the id if the engine asks."""
        return UpdateResult({KEY_STACK_ID: olds[KEY_STACK_ID]})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to remove outside the state."""


class StackIdentity(Resource, module="felhom", name="StackIdentity"):
    """The stack's random id (output ``stackId``), drawn once and kept in state."""

    stackId: pulumi.Output[str]  # noqa: N815 - the output's name on the wire

    def __init__(
        self,
        resource_name: str,
        initial: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {KEY_INITIAL: initial, KEY_STACK_ID: None}
        super().__init__(StackIdentityProvider(), resource_name, props, opts)
