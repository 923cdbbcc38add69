"""Golden image build (``GoldenImage``): seed §2 step by step, archive kept, build CT gone."""

from __future__ import annotations

import time
from collections.abc import Callable

from felhom_provider.reconcile.model import GoldenSpec, GoldenState
from felhom_provider.reconcile.ports import Progress, PveApi, ShellLike


class GoldenEngine:
    """Builds, reads and deletes the golden archive. Needs the root node shell."""

    def __init__(
        self,
        client: PveApi,
        shell: ShellLike,
        progress: Progress | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        task_timeout_s: float = 1800.0,
    ) -> None:
        raise NotImplementedError

    def build(self, spec: GoldenSpec) -> GoldenState:
        """Create, install Docker, clean, vzdump, verify; the build CT is always destroyed."""
        raise NotImplementedError

    def read(self, archive: str) -> GoldenState | None:
        """Re-read the archive's facts; None when the archive is gone."""
        raise NotImplementedError

    def delete(self, archive: str) -> None:
        """Delete the archive volume; a missing archive counts as deleted."""
        raise NotImplementedError
