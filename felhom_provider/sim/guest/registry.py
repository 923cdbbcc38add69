"""Command results and the registry of commands the guest interpreter imitates.

Each command is a function ``(model, argv, stdin) -> Result`` registered under its program
name. The registry *is* the list of what the simulator imitates; anything not in it answers with
exit status 127 and says that the simulator does not imitate it, so a test can never pass by
accident against a command the simulator silently ignores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from felhom_provider.sim.guest.model import GuestModel

NOT_IMITATED_EXIT = 127


@dataclass
class Result:
    """What a command left behind: exit status and its two output streams."""

    code: int = 0
    stdout: str = ""
    stderr: str = ""

    def then(self, other: Result) -> Result:
        """Concatenate output of a sequence; the exit status is the later one's."""
        return Result(other.code, self.stdout + other.stdout, self.stderr + other.stderr)


CommandFn = Callable[[GuestModel, list[str], str], Result]

COMMANDS: dict[str, CommandFn] = {}
# Where each imitated program lives in the guest; missing file → "not found" like a real shell.
PROGRAM_PATHS: dict[str, str] = {}
# Shell builtins work without a file in the guest (dash: ":", "echo", "test", "[", "true", "set").
BUILTINS: set[str] = set()


def command(
    name: str, path: str | None = None, *, builtin: bool = False
) -> Callable[[CommandFn], CommandFn]:
    """Register ``fn`` as the imitation of program ``name`` installed at ``path``."""

    def register(fn: CommandFn) -> CommandFn:
        COMMANDS[name] = fn
        if path is not None:
            PROGRAM_PATHS[name] = path
        if builtin:
            BUILTINS.add(name)
        return fn

    return register


def not_imitated(what: str) -> Result:
    """The answer for anything outside the imitated subset."""
    return Result(
        NOT_IMITATED_EXIT,
        stderr=f"sim: '{what}' is not imitated by the simulator (see docs/simulator-guests.md)\n",
    )


def usage_error(program: str, message: str, code: int = 1) -> Result:
    """``<program>: <message>`` on stderr with the given exit status."""
    return Result(code, stderr=f"{program}: {message}\n")
