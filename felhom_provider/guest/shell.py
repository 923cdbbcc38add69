"""The shell contract: the ``NodeShell`` Protocol, ``ExecResult``, argv quoting.

Commands are argv lists from end to end; the one place they become a shell string is
``quote_argv`` (``shlex.join``), because the SSH exec channel carries a single command line
that the node's login shell parses back into exactly that argv. Secrets are ``Secret``
arguments (or listed explicitly) and are masked (``felhom_provider.secrets.mask``) in
anything that reaches a log, the journal or an exception.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from felhom_provider.errors import GuestCommandError
from felhom_provider.secrets import Secret, mask, reveal

_TAIL_CHARS = 2000

#: A command argument: a plain string, or a ``Secret`` the command line gets revealed and
#: every rendering of the command gets masked.
Arg = str | Secret


def secrets_in(argv: Iterable[object]) -> list[str]:
    """The ``Secret`` values among ``argv`` (to mask them wherever the command is shown)."""
    return [a.reveal() for a in argv if isinstance(a, Secret)]


def quote_argv(argv: Sequence[Arg]) -> str:
    """The one place argv becomes a shell command line (POSIX ``sh`` quoting).

    Raises ``ValueError`` for an empty argv or an argument holding a NUL byte, which no
    command line can carry.
    """
    if not argv:
        raise ValueError("empty argv")
    parts = [reveal(a) for a in argv]
    for part in parts:
        if "\x00" in part:
            raise ValueError("an argument contains a NUL byte")
    return shlex.join(parts)


def display_argv(argv: Sequence[Arg], secrets: Iterable[str] = ()) -> str:
    """The command line for logs and errors, with secrets masked."""
    return mask(quote_argv(argv), [*secrets, *secrets_in(argv)])


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one command: argv, exit code and captured output (decoded UTF-8).

    ``exit_code`` is -1 when the remote side closed without reporting a status. ``secrets``
    (set by the shell: its own plus any ``Secret`` argument) are masked by ``check`` and
    ``repr``; ``stdout``/``stderr`` themselves stay raw for the caller to parse.
    """

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True for exit code 0."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        hidden = self.secrets
        return (
            f"ExecResult(argv={mask(repr(self.argv), hidden)}, exit_code={self.exit_code}, "
            f"stdout={mask(repr(self.stdout), hidden)}, stderr={mask(repr(self.stderr), hidden)})"
        )

    def check(
        self, *, what: str | None = None, secrets: Iterable[str] = (), **context: object
    ) -> ExecResult:
        """Return self if the command succeeded, else raise ``GuestCommandError``.

        The message names the command (``what`` or the masked argv), the exit code and the
        tail of stderr, all with secrets masked.
        """
        if self.ok:
            return self
        hidden = [*secrets, *self.secrets]
        label = what or display_argv(self.argv, hidden)
        stderr = mask(self.stderr.strip()[-_TAIL_CHARS:], hidden)
        detail = f": {stderr.splitlines()[-1]}" if stderr else ""
        raise GuestCommandError(
            f"{label} exited {self.exit_code}{detail}",
            exit_code=self.exit_code,
            stderr=stderr,
            **context,
        )


@runtime_checkable
class NodeShell(Protocol):
    """The one shell Protocol: runs argv on the PVE node (``run``, as root) or inside a
    guest (``exec``, ``pct exec`` on the node). Engines, test fakes and
    ``guest.ssh.ParamikoNodeShell`` all code against it.

    Neither method raises for a non-zero exit (see ``ExecResult.check``); both raise
    ``CommandTimeoutError`` after ``timeout`` seconds.
    """

    def exec(
        self,
        vmid: int,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        """Run ``argv`` in guest ``vmid``."""
        ...

    def run(
        self,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        """Run ``argv`` on the node (``pct create …``, ``vzdump …``)."""
        ...
