"""The providers pickle by reference, carry no credentials, and unpickle in a fresh process.

``serialize_provider`` is what ``Resource.__init__`` stores in state as ``__provider``; the
engine's plugin process (``python -m pulumi.dynamic``) decodes it with ``dill.loads``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from felhom_provider.resources.golden_image import GoldenImageProvider
from felhom_provider.resources.guest import FelhomGuestProvider
from tests.unit.resources._fakes import SECRET, config

# The child refuses any socket before unpickling: loading must not touch the network.
CHILD = textwrap.dedent(
    """
    import base64, socket, sys

    class NoNetwork(socket.socket):
        def __init__(self, *a, **k):
            raise RuntimeError("network access while unpickling")

    socket.socket = NoNetwork
    socket.create_connection = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("net"))
    import dill

    provider = dill.loads(base64.b64decode(sys.stdin.read()))
    print(type(provider).__module__ + "." + type(provider).__qualname__)
    print(sorted(vars(provider)))
    """
)


@pytest.mark.parametrize("cls", [FelhomGuestProvider, GoldenImageProvider])
@pytest.mark.parametrize("configured", [False, True])
def test_round_trip_in_a_fresh_process(cls: type, configured: bool) -> None:
    provider = cls()
    if configured:
        # Even a configured instance (the provider process's own) pickles to nothing.
        provider.configure(ConfigureRequest(Config(raw_config=config(), project_name="felhom")))
    encoded = serialize_provider(provider)
    raw = base64.b64decode(encoded)
    assert SECRET.encode() not in raw
    assert b"felhom-agent" not in raw and b"127.0.0.1" not in raw
    # By reference: module and class name, no byte code.
    assert cls.__module__.encode() in raw
    assert len(raw) < 400, len(raw)
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=encoded,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    name, attrs = child.stdout.splitlines()
    assert name == f"{cls.__module__}.{cls.__qualname__}"
    assert attrs == "[]"


def test_pickling_is_deterministic() -> None:
    assert serialize_provider(FelhomGuestProvider()) == serialize_provider(FelhomGuestProvider())
