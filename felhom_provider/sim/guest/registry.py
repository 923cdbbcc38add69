"""Command results and the calling convention of the commands the guest interpreter imitates.

A command is a function ``(model, argv, stdin, run) -> Result``. ``run`` is the interpreter
itself (``shell.run``), handed to every command so that a command which starts other programs
(``systemctl start`` running a unit's ``ExecStart=``, ``apt-get`` running postinst jobs)
reaches the interpreter without importing it. Which commands exist is listed in one table,
``commands.TABLE``; anything not in it answers with exit status 127 and says that the
simulator does not imitate it, so a test can never pass by accident against a command the
simulator silently ignores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Runner(Protocol):
    """The interpreter's entry point: run argv in the guest (``shell.run``)."""

    def __call__(self, model: GuestModel, argv: list[str], stdin: str = "") -> Result:
        """Execute argv; the result's code is the program's exit status."""
        ...


class CommandFn(Protocol):
    """The imitation of one program."""

    def __call__(self, model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
        """Run the program with argv (``argv[0]`` is its name) and stdin."""
        ...


def not_imitated(what: str) -> Result:
    """The answer for anything outside the imitated subset."""
    return Result(
        NOT_IMITATED_EXIT,
        stderr=f"sim: '{what}' is not imitated by the simulator (see docs/simulator-guests.md)\n",
    )


def usage_error(program: str, message: str, code: int = 1) -> Result:
    """``<program>: <message>`` on stderr with the given exit status."""
    return Result(code, stderr=f"{program}: {message}\n")
