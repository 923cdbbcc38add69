"""The guest shell contract: ``GuestShell``, ``ExecResult``, argv quoting, secret masking.

Commands are argv lists from end to end; the one place they become a shell string is
``quote_argv`` (``shlex.join``), because the SSH exec channel carries a single command line
that the node's login shell parses back into exactly that argv. Secrets are ``Secret``
strings (or listed explicitly) and are replaced by ``***`` in anything that reaches a log,
the journal or an exception.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import quote, quote_plus

from felhom_provider.errors import GuestCommandError

MASK = "***"
# Shorter "secrets" would mask ordinary words ("1", "on") all over the output.
_MIN_SECRET_LEN = 4
_TAIL_CHARS = 2000


class Secret(str):
    """A ``str`` whose ``repr`` hides the value; shells mask it in logs and errors.

    It behaves as the real value wherever a string is needed (argv, stdin), so code can
    pass it along without unwrapping; only rendering for humans is masked.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"


def secret_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may show up in text: as it is, stripped of surrounding
    whitespace, and escaped as ``repr`` (str and bytes), JSON and URL-encoding render it.

    A secret pasted from a file often ends in CR/LF; ``http.client`` then refuses the header
    and its error shows ``b'...secret\\r\\n'``: the stripped form masks that.
    """
    forms: set[str] = set()
    for raw in {secret, secret.strip()}:
        if not raw:
            continue
        forms |= {
            raw,
            repr(raw)[1:-1],
            json.dumps(raw)[1:-1],
            repr(raw.encode("utf-8", "backslashreplace"))[2:-1],
            quote(raw, safe=""),
            quote_plus(raw),
        }
    return forms


def mask(text: str, secrets: Iterable[str], replacement: str = MASK) -> str:
    """Replace every form (see ``secret_forms``) of each secret in ``text`` (longest first).

    Secrets shorter than 4 characters are ignored: masking them would garble the text
    without protecting anything worth a secret.
    """
    forms: set[str] = set()
    for secret in {str(s) for s in secrets if s}:
        if len(secret) >= _MIN_SECRET_LEN:
            forms |= secret_forms(secret)
    out = text
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= _MIN_SECRET_LEN:
            out = out.replace(form, replacement)
    return out


def secrets_in(argv: Iterable[object]) -> list[str]:
    """The ``Secret`` values among ``argv`` (to mask them wherever the command is shown)."""
    return [str(a) for a in argv if isinstance(a, Secret)]


def quote_argv(argv: Sequence[str]) -> str:
    """The one place argv becomes a shell command line (POSIX ``sh`` quoting).

    Raises ``ValueError`` for an empty argv or an argument holding a NUL byte, which no
    command line can carry.
    """
    if not argv:
        raise ValueError("empty argv")
    parts = [str(a) for a in argv]
    for part in parts:
        if "\x00" in part:
            raise ValueError("an argument contains a NUL byte")
    return shlex.join(parts)


def display_argv(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
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
class GuestShell(Protocol):
    """Runs argv inside a guest (``pct exec`` on the node, or the simulator's equivalent)."""

    def exec(
        self,
        vmid: int,
        argv: Sequence[str],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        """Run ``argv`` in guest ``vmid``; never raises for a non-zero exit (see
        ``ExecResult.check``), raises ``CommandTimeoutError`` after ``timeout`` seconds."""
        ...


@runtime_checkable
class NodeShell(GuestShell, Protocol):
    """A ``GuestShell`` that can also run commands on the PVE node itself (as root)."""

    def run(
        self,
        argv: Sequence[str],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        """Run ``argv`` on the node (``pct create …``, ``vzdump …``)."""
        ...
