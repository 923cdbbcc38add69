"""What both dynamic providers share: nothing pickled, settings at ``configure``, a runtime.

Provider instances are pickled into state (design §2.11): ``__getstate__`` keeps nothing, and
the runtime (settings, clients, engines) lives in a ``RuntimeHolder`` made on first use.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pulumi.dynamic import ConfigureRequest, ResourceProvider

from felhom_provider.resources._runtime import Progress, Runtime, RuntimeHolder, progress_for
from felhom_provider.resources._watchdog import start_engine_watchdog


class RuntimeProvider(ResourceProvider):
    """A provider whose CRUD calls run against the stack's runtime; ``kind`` names its
    resource type for the step log (``guest`` or ``golden``)."""

    kind: ClassVar[str]

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
        # A provider process must not outlive a killed `pulumi up` (see _watchdog).
        start_engine_watchdog()

    def _runtime(self, owner: object) -> tuple[Runtime, Progress]:
        """The runtime and a step logger for the resource whose marker is ``owner``."""
        runtime = self._holder.get()
        return runtime, progress_for(self.kind, runtime.mask, str(owner or ""))
