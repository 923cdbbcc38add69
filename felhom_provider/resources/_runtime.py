"""What a provider builds in ``configure()``: settings, PVE clients, the node shell, engines.

None of this is pickled. Provider instances are pickled into state (design §2.11), so
they keep only a reference to a ``Runtime`` in a slot that ``__getstate__`` drops, and
the runtime is built once per provider process from the stack config. Clients are made
lazily, per node, so ``check``/``diff`` at preview never open a connection.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from felhom_provider.errors import ConfigError, FelhomError
from felhom_provider.provider_process.engine_log import engine_log, resource_urn
from felhom_provider.reconcile.model import GoldenSpec, GoldenState, GuestSpec, GuestState
from felhom_provider.secrets import mask
from felhom_provider.settings import ConfigGetter, ProviderSettings, parse_settings

if TYPE_CHECKING:
    from felhom_provider.reconcile.roll import RollResult
    from felhom_provider.reconcile.rollout import RolloutGate

#: The resources' type tokens (``Resource`` subclasses with module="felhom").
TYPE_TOKENS = {
    "guest": "pulumi-python:dynamic/felhom:Guest",
    "golden": "pulumi-python:dynamic/felhom:GoldenImage",
}


class GuestEngineLike(Protocol):
    """The part of ``reconcile.GuestEngine`` the resource calls."""

    def create(self, spec: GuestSpec) -> GuestState: ...

    def read(
        self, vmid: int, owner: str, host_key_check: str = "handshake"
    ) -> GuestState | None: ...

    def update(self, vmid: int, spec: GuestSpec, old: GuestState) -> GuestState: ...

    def delete(self, vmid: int, owner: str) -> None: ...


class RollEngineLike(Protocol):
    """The part of ``reconcile.roll.RollEngine`` the guest resource calls (issue 11)."""

    def roll(
        self, vmid: int, spec: GuestSpec, *, gate: RolloutGate | None = None
    ) -> RollResult: ...


class GoldenEngineLike(Protocol):
    """The part of ``reconcile.GoldenEngine`` the resource calls."""

    def build(self, spec: GoldenSpec) -> GoldenState: ...

    def read(self, archive: str) -> GoldenState | None: ...

    def delete(self, archive: str) -> None: ...


Progress = Callable[[str], None]


class Runtime(Protocol):
    """Engines bound to one stack's settings; ``mask`` scrubs secrets from any text."""

    def guest_engine(self, node: str, progress: Progress) -> GuestEngineLike: ...

    def golden_engine(self, node: str, progress: Progress) -> GoldenEngineLike: ...

    def mask(self, text: str) -> str: ...

    def roll_engine(self, node: str, progress: Progress) -> RollEngineLike: ...


class StepLog:
    """A step logger: one short line per step, secrets masked.

    With an owner, lines are shown in ``pulumi up`` against the resource (engine Log RPC,
    see ``provider_process.engine_log``) as *ephemeral* status: the live display shows each
    step, and the Diagnostics summary keeps only errors, warnings and the one result line
    that ``finish`` sends once the call succeeded. Without an engine, or when sending fails,
    lines go to stderr (which the CLI shows under the stack) and ``finish`` sends nothing
    again. Lines start with the resource's name (the engine puts it there), which is dropped
    when the line is attached to the resource itself.
    """

    def __init__(self, kind: str, mask: Callable[[str], str], owner: str | None = None) -> None:
        self._urn = resource_urn(owner, TYPE_TOKENS[kind]) if owner else None
        self._prefix = f"{owner.rsplit('/', 1)[-1]}: " if owner else ""
        self._kind = kind
        self._mask = mask
        self.last: str | None = None
        self._attached = False

    def __call__(self, message: str) -> None:
        line = self._mask(message)
        self.last = line
        attached = line.removeprefix(self._prefix) if self._prefix else line
        if engine_log(self._urn, attached, ephemeral=True):
            self._attached = True
            return
        sys.stderr.write(f"felhom {self._kind} {line}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        """Send the last line again, kept: the resource's one result line in Diagnostics."""
        if self._attached and self.last is not None:
            attached = self.last.removeprefix(self._prefix) if self._prefix else self.last
            engine_log(self._urn, attached, ephemeral=False)


def progress_for(kind: str, mask: Callable[[str], str], owner: str | None = None) -> StepLog:
    """A ``StepLog`` for one CRUD call of a ``kind`` resource (see ``StepLog``)."""
    return StepLog(kind, mask, owner)


class LiveRuntime:
    """The real runtime: PVE clients and the node shell from ``ProviderSettings``."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._shell: Any = None

    def mask(self, text: str) -> str:
        """``text`` with the token secret replaced in every form it may take (as it is,
        stripped, ``repr``/JSON-escaped, URL-encoded), wherever the text came from."""
        return mask(text, [self.settings.pve.token_secret])

    def _client(self, node: str) -> Any:
        # Imported here: the client stack is only needed once a CRUD call runs.
        from felhom_provider.pve import PveClient, PveEndpoint  # noqa: PLC0415

        with self._lock:
            client = self._clients.get(node)
            if client is None:
                pve = self.settings.pve
                endpoint = PveEndpoint(
                    url=pve.endpoint,
                    node=node,
                    token_id=pve.token_id,
                    token_secret=pve.token_secret.reveal(),
                    tls_fingerprint_sha256=pve.tls_fingerprint_sha256,
                    ca_bundle=pve.ca_bundle,
                    verify_tls=not pve.insecure_skip_tls_verify,
                    timeout_s=pve.timeout_s,
                )
                client = self._clients[node] = PveClient(endpoint)
            return client

    def _node_shell(self, *, required: bool) -> Any:
        from felhom_provider.guest import NodeShellSettings, ParamikoNodeShell  # noqa: PLC0415

        shell_settings = self.settings.node_shell
        if shell_settings is None:
            if required:
                raise ConfigError(
                    "felhom:nodeShell",
                    "is required to build a golden image (keyctl=1 needs root on the node)",
                )
            return None
        with self._lock:
            if self._shell is None:
                self._shell = ParamikoNodeShell(
                    NodeShellSettings(
                        host=shell_settings.host,
                        port=shell_settings.port,
                        user=shell_settings.user,
                        host_key=shell_settings.host_key,
                        key_file=shell_settings.private_key_path,
                    ),
                    # The shell masks these in its logs and errors too.
                    secrets=(self.settings.pve.token_secret.reveal(),),
                )
            return self._shell

    def _guest_side(self, progress: Progress) -> dict[str, Any]:
        """What the guest and roll engines are both built with: the optional node shell,
        the guests' SSH port, progress and the stack's limits."""
        limits = self.settings.limits
        return {
            "shell": self._node_shell(required=False),
            "guest_ssh_port": self.settings.guest_ssh_port,
            "progress": progress,
            "restores_per_node": limits.restores_per_node,
            "task_timeout_s": limits.task_timeout_s,
        }

    def guest_engine(self, node: str, progress: Progress) -> GuestEngineLike:
        """A guest engine on ``node``; cheap to build, so one per call."""
        from felhom_provider.reconcile import GuestEngine  # noqa: PLC0415

        return GuestEngine(self._client(node), **self._guest_side(progress))

    def golden_engine(self, node: str, progress: Progress) -> GoldenEngineLike:
        """A golden-image engine on ``node`` (needs the node shell)."""
        from felhom_provider.reconcile import GoldenEngine  # noqa: PLC0415

        return GoldenEngine(
            self._client(node),
            self._node_shell(required=True),
            progress,
            task_timeout_s=max(self.settings.limits.task_timeout_s, 1800.0),
        )

    def roll_engine(self, node: str, progress: Progress) -> RollEngineLike:
        """A golden roll-out engine on ``node`` (node shell optional: host keys, Docker)."""
        from felhom_provider.reconcile.roll import RollEngine  # noqa: PLC0415

        return RollEngine(self._client(node), **self._guest_side(progress))


class RuntimeHolder:
    """The non-pickled half of a provider: settings parsed at configure, runtime on demand.

    A config error is kept and raised by the first CRUD call, so ``check``/``diff`` (which
    need no PVE) still answer and the error text names the key.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None
        self._error: ConfigError | None = None
        self._getter: ConfigGetter | None = None

    def configure(self, get: ConfigGetter) -> None:
        """Parse the settings now; build clients later."""
        try:
            self._runtime = LiveRuntime(parse_settings(get))
            self._error = None
        except ConfigError as exc:
            self._runtime, self._error = None, exc

    def install(self, runtime: Runtime) -> None:
        """Use ``runtime`` instead of a live one (tests, benchmarks)."""
        self._runtime, self._error = runtime, None

    def get(self) -> Runtime:
        """The runtime, or the configuration error that prevented it."""
        if self._error is not None:
            raise self._error
        if self._runtime is None:
            raise ConfigError("felhom:pve", "the provider was not configured from stack config")
        return self._runtime


@contextmanager
def scrubbed(runtime: Runtime | None) -> Iterator[None]:
    """Re-raise any failure whose text carries the token secret with the secret masked.

    Errors become gRPC tracebacks that the CLI prints verbatim; this is the last line of
    defence behind the client's own masking.
    """
    try:
        yield
    except Exception as exc:
        if runtime is None:
            raise
        text = f"{type(exc).__name__}: {exc}"
        masked = runtime.mask(text)
        chained = exc.__cause__ or exc.__context__
        leaks_in_cause = chained is not None and runtime.mask(str(chained)) != str(chained)
        if masked == text and not leaks_in_cause:
            raise
        raise FelhomError(masked) from None
