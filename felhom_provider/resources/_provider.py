"""What both dynamic providers share: nothing pickled, settings at ``configure``, a runtime.

Provider instances are pickled into state (design §2.11): ``__getstate__`` keeps nothing, and
the runtime (settings, clients, engines) lives in a ``RuntimeHolder`` made on first use.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pulumi.dynamic import ConfigureRequest, ResourceProvider

from felhom_provider.errors import FelhomError
from felhom_provider.provider_process.failure import install_clean_errors
from felhom_provider.provider_process.watchdog import start_engine_watchdog
from felhom_provider.resources._runtime import Runtime, RuntimeHolder, StepLog, progress_for

F = TypeVar("F", bound=Callable[..., Any])
_CRUD = ("create", "read", "update", "delete")
# The step logs of the CRUD call running on this thread (the provider server runs each
# gRPC call on a worker thread of its own).
_calls = threading.local()


def _finishing(method: F) -> F:
    """Wrap a CRUD method: on success, each step log sends its result line (``finish``)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _calls.logs = []
        try:
            result = method(*args, **kwargs)
        except BaseException:
            _calls.logs = []
            raise
        logs: list[StepLog] = _calls.logs
        _calls.logs = []
        for log in logs:
            log.finish()
        return result

    return wrapper  # type: ignore[return-value]


class RuntimeProvider(ResourceProvider):
    """A provider whose CRUD calls run against the stack's runtime; ``kind`` names its
    resource type for the step log (``guest`` or ``golden``)."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _CRUD:
            if name in cls.__dict__:
                setattr(cls, name, _finishing(cls.__dict__[name]))

    def __getstate__(self) -> dict[str, Any]:
        # Nothing of an instance reaches the pickle: no settings, clients, locks or secrets.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        del state

    @property
    def _holder(self) -> RuntimeHolder:
        holder: RuntimeHolder | None = self.__dict__.get("_runtime_holder")
        if holder is None:
            holder = self.__dict__["_runtime_holder"] = RuntimeHolder()
        return holder

    def configure(self, req: ConfigureRequest) -> None:
        """Read the provider settings from the stack config (``felhom:*``); watch the engine."""
        self._holder.configure(req.config.get)
        # One message per failure instead of a traceback (provider_process.failure;
        # FELHOM_DEBUG=1 shows it).
        install_clean_errors(self._mask)
        # A provider process must not outlive a killed `pulumi up` (provider_process.watchdog).
        start_engine_watchdog()

    def _mask(self, text: str) -> str:
        try:
            return self._holder.get().mask(text)
        except FelhomError:
            return text  # not configured: there is no secret to hide yet

    def _runtime(self, owner: object) -> tuple[Runtime, StepLog]:
        """The runtime and a step logger for the resource whose marker is ``owner``."""
        runtime = self._holder.get()
        log = progress_for(self.kind, runtime.mask, str(owner or ""))
        if isinstance(getattr(_calls, "logs", None), list):
            _calls.logs.append(log)
        return runtime, log
