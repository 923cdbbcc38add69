"""Step lines shown in ``pulumi up`` against their resource, through the engine's Log RPC.

A Python dynamic provider has no engine connection of its own (pulumi#6065): its stderr
lands under the stack, not the resource. The plugin process is started as
``python -m pulumi.dynamic <engine-address>``, so we dial that address and send each step
as an info diagnostic carrying the resource's URN. The URN is derived from the ownership
marker ``<project>/<stack>/<name>`` (the resources are top level, without a parent).
Anything that fails here falls back to stderr: a log line must never fail a deployment.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

_ADDRESS_RE = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\]):\d+$")
_lock = threading.Lock()
_stub: Any = None
_unavailable = False


def resource_urn(owner: str, type_token: str) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` from the ownership marker
    ``[<stackId>:]<project>/<stack>/<name>``."""
    parts = owner.split(":", 1)[-1].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    project, stack, name = parts
    return f"urn:pulumi:{stack}::{project}::{type_token}::{name}"


def engine_address() -> str | None:
    """The engine's loopback address, inside the engine's plugin process only.

    The plugin runs as ``python -m pulumi.dynamic <address>``; in tests and in the program
    (any other ``__main__``) there is no engine to talk to.
    """
    address = sys.argv[1] if len(sys.argv) > 1 else ""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if getattr(spec, "name", "") != "pulumi.dynamic.__main__" or not _ADDRESS_RE.match(address):
        return None
    return address


def _engine_stub() -> Any:
    global _stub, _unavailable  # noqa: PLW0603 - one channel per provider process
    with _lock:
        if _stub is not None or _unavailable:
            return _stub
        address = engine_address()
        if address is None:
            _unavailable = True
            return None
        try:
            import grpc  # type: ignore[import-untyped]  # noqa: PLC0415
            from pulumi.runtime.proto import engine_pb2_grpc  # noqa: PLC0415

            _stub = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))
        except Exception:
            _unavailable = True
        return _stub


def engine_log(
    urn: str | None, message: str, *, ephemeral: bool = False, warning: bool = False
) -> bool:
    """Send ``message`` as an info (or warning) diagnostic of ``urn``; False when it could
    not be sent.

    ``ephemeral`` marks it as status (the LogRequest field of that name): shown live against
    the resource, left out of the Diagnostics summary at the end of the run.
    """
    if urn is None:
        return False
    stub = _engine_stub()
    if stub is None:
        return False
    try:
        from pulumi.runtime.proto import engine_pb2  # noqa: PLC0415

        severity = engine_pb2.WARNING if warning else engine_pb2.INFO
        stub.Log(
            engine_pb2.LogRequest(severity=severity, message=message, urn=urn, ephemeral=ephemeral)
        )
    except Exception:
        return False
    return True
