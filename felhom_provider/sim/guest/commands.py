"""The table of programs the guest interpreter imitates: name → handler, path, builtin.

This table *is* the list of what the simulator imitates inside a guest. ``shell.run`` looks a
program up here; a name that is missing answers "not imitated" with exit status 127. The path
is where the program lives in the guest (its package puts it there, see ``catalog.py``): when
that file is missing the program is "not found" as in a real guest. ``builtin`` marks dash's
builtins, which work inside ``sh -c`` without a file.

Handlers are plain functions of the ``cmd_*`` modules; nothing registers itself on import.
"""

from __future__ import annotations

from dataclasses import dataclass

from felhom_provider.sim.guest import (
    cmd_apt,
    cmd_df,
    cmd_docker,
    cmd_files,
    cmd_gpg,
    cmd_grep,
    cmd_install,
    cmd_ip,
    cmd_journal,
    cmd_ls,
    cmd_ps,
    cmd_ss,
    cmd_system,
    cmd_text,
)
from felhom_provider.sim.guest.registry import CommandFn


@dataclass(frozen=True)
class Command:
    """One imitated program."""

    handler: CommandFn
    path: str | None
    builtin: bool = False


TABLE: dict[str, Command] = {
    # dash builtins (also installed as coreutils programs where Debian ships one)
    ":": Command(cmd_files.true, None, builtin=True),
    "true": Command(cmd_files.true, "/usr/bin/true", builtin=True),
    "false": Command(cmd_files.false, "/usr/bin/false", builtin=True),
    "echo": Command(cmd_files.echo, "/usr/bin/echo", builtin=True),
    "test": Command(cmd_install.test, "/usr/bin/test", builtin=True),
    "[": Command(cmd_install.test, "/usr/bin/[", builtin=True),
    # coreutils
    "cat": Command(cmd_files.cat, "/usr/bin/cat"),
    "chmod": Command(cmd_files.chmod, "/usr/bin/chmod"),
    "install": Command(cmd_install.install, "/usr/bin/install"),
    "ln": Command(cmd_files.ln, "/usr/bin/ln"),
    "mkdir": Command(cmd_files.mkdir, "/usr/bin/mkdir"),
    "rm": Command(cmd_files.rm, "/usr/bin/rm"),
    "tee": Command(cmd_files.tee, "/usr/bin/tee"),
    "touch": Command(cmd_files.touch, "/usr/bin/touch"),
    "truncate": Command(cmd_files.truncate, "/usr/bin/truncate"),
    "whoami": Command(cmd_files.whoami, "/usr/bin/whoami"),
    "id": Command(cmd_files.id_, "/usr/bin/id"),
    "ls": Command(cmd_ls.ls, "/usr/bin/ls"),
    "stat": Command(cmd_ls.stat, "/usr/bin/stat"),
    "df": Command(cmd_df.df, "/usr/bin/df"),
    "wc": Command(cmd_text.wc, "/usr/bin/wc"),
    "head": Command(cmd_text.head, "/usr/bin/head"),
    "tail": Command(cmd_text.tail, "/usr/bin/tail"),
    # other packages (grep, procps, iproute2, hostname, systemd, openssh-client, apt, dpkg,
    # curl, gpg, docker-ce-cli)
    "grep": Command(cmd_grep.grep, "/usr/bin/grep"),
    "ps": Command(cmd_ps.ps, "/usr/bin/ps"),
    "ip": Command(cmd_ip.ip, "/usr/bin/ip"),
    "ss": Command(cmd_ss.ss, "/usr/bin/ss"),
    "hostname": Command(cmd_files.hostname, "/usr/bin/hostname"),
    "systemctl": Command(cmd_system.systemctl, "/usr/bin/systemctl"),
    "journalctl": Command(cmd_journal.journalctl, "/usr/bin/journalctl"),
    "ssh-keygen": Command(cmd_system.ssh_keygen, "/usr/bin/ssh-keygen"),
    "apt-get": Command(cmd_apt.apt_get, "/usr/bin/apt-get"),
    "dpkg-query": Command(cmd_apt.dpkg_query, "/usr/bin/dpkg-query"),
    "curl": Command(cmd_apt.curl, "/usr/bin/curl"),
    "gpg": Command(cmd_gpg.gpg, "/usr/bin/gpg"),
    "docker": Command(cmd_docker.docker, "/usr/bin/docker"),
}
