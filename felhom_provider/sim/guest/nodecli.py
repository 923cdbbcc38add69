"""The node's command line as root reaches it over SSH: ``pct``, ``vzdump``, ``pveversion``.

``pct create|set|start|stop|shutdown|status|config|destroy`` and ``vzdump`` are thin wrappers
over the same rules as the API handlers (design §4.14: ``pct.pm``'s ``$cmddef`` maps them to
the API2 code), called as ``root@pam`` — so root may set ``features: nesting=1,keyctl=1``.
Options are ``--key value`` (or ``--key=value``; a bare boolean flag means 1) and are checked
against the same parameter schema as the API. Worker commands run in the foreground like the
CLI does: the task log is printed and a failed task ends the command.

``pct exec <vmid> [--keep-env 0|1] -- argv…`` runs argv in the guest interpreter; its exit
status passes through (``lxc-attach`` is ``exec``ed). Errors of the PVE CLI (a Perl ``die``)
print the message and exit 255. The node's own shell is not imitated: one command per
connection, no pipes, redirections, variables or pathname expansion (quote globs and run them
in the guest with ``sh -c``); anything else exits 127 and says so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import (
    backup,
    lxc_config,
    lxc_create,
    lxc_pending,
    lxc_power,
    nodeinfo,
    params,
    pctconf,
    schema,
)
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import ParamError, SimApiError
from felhom_provider.sim.guest import shell
from felhom_provider.sim.guest.hooks import GuestNotRunningError, SimGuestHooks
from felhom_provider.sim.guest.registry import Result, not_imitated

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState

CLI_ERROR = 255
KERNEL = "6.14.11-4-pve"


class CliError(Exception):
    """A PVE CLI ``die``: message on stderr, exit 255."""


def _options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and len(a) > 2:
            key, eq, value = a[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("--"):
                    value, i = args[i + 1], i + 1
                else:
                    value = "1"
            opts[key] = value
        else:
            positional.append(a)
        i += 1
    return positional, opts


def _validated(method: str, path: str, given: dict[str, Any]) -> dict[str, Any]:
    return schema.validate(params.endpoint_spec(method, path), given)


class NodeCli:
    """Runs one node command line against the simulator's state and guest hooks."""

    def __init__(self, state: SimState, hooks: SimGuestHooks, task_timeout: float = 60.0) -> None:
        self.state = state
        self.hooks = hooks
        self.task_timeout = task_timeout

    def run(self, command_line: str, stdin: str = "") -> Result:
        """Parse and run ``command_line``; never raises."""
        try:
            words = shell.tokenize(command_line)
        except shell.NotImitatedError as exc:
            return not_imitated(f"node shell: {exc}")
        if any(w.op for w in words):
            return not_imitated("node shell: pipes, lists and redirections")
        if any(w.glob for w in words):
            return not_imitated("node shell: pathname expansion (quote it, use sh -c in the guest)")
        argv = [w.text for w in words]
        if not argv:
            return Result()
        try:
            return self._dispatch(argv, stdin)
        except ParamError as exc:
            lines = "".join(f"{k}: {v}\n" for k, v in sorted((exc.errors or {}).items()))
            return Result(CLI_ERROR, "", f"400 {exc.message}\n{lines}")
        except (SimApiError, CliError, GuestNotRunningError) as exc:
            return Result(CLI_ERROR, "", f"{exc}\n")

    def _dispatch(self, argv: list[str], stdin: str) -> Result:
        if argv == ["pveversion"]:
            v = nodeinfo.version(self.state, ROOT)
            return Result(
                0, f"pve-manager/{v['version']}/{v['repoid']} (running kernel: {KERNEL})\n"
            )
        if argv[0] == "vzdump":
            positional, opts = _options(argv[1:])
            given = {"node": self.state.node, "vmid": ",".join(positional), **opts}
            return self._wait(
                backup.vzdump(self.state, ROOT, _validated("POST", "/nodes/{node}/vzdump", given))
            )
        if argv[0] != "pct" or len(argv) < 2:
            return not_imitated(" ".join(argv[:2]))
        sub = argv[1]
        if sub == "exec":
            return self._exec(argv[2:], stdin)
        if sub in ("push", "pull"):
            return self._copy(sub, argv[2:], stdin)
        positional, opts = _options(argv[2:])
        if not positional:
            raise CliError(f"400 not enough arguments\npct {sub} <vmid>")
        vmid = int(positional[0]) if positional[0].isdigit() else -1
        base = {"node": self.state.node, "vmid": positional[0]}
        ct_path = "/nodes/{node}/lxc/{vmid}"
        if sub == "create" and len(positional) == 2:
            given = {**base, "ostemplate": positional[1], **opts}
            checked = _validated("POST", "/nodes/{node}/lxc", given)
            return self._wait(lxc_create.create_ct(self.state, ROOT, checked))
        if sub == "set" and len(positional) == 1:
            checked = _validated("PUT", ct_path + "/config", {**base, **opts})
            lxc_config.set_config(self.state, ROOT, vmid, checked)
            return Result()
        if sub in ("start", "stop", "shutdown") and len(positional) == 1:
            checked = _validated("POST", f"{ct_path}/status/{sub}", {**base, **opts})
            if sub == "start":
                upid = lxc_power.start(self.state, ROOT, vmid, bool(checked.get("skiplock")))
            else:
                skip = bool(checked.get("skiplock"))
                upid = lxc_power.stop(
                    self.state, ROOT, vmid, skiplock=skip, shutdown=sub == "shutdown"
                )
            return self._wait(upid)
        if sub == "status" and len(positional) == 1 and not opts:
            return Result(0, f"status: {self.state.ct(vmid).status}\n")
        if sub == "config" and len(positional) == 1 and set(opts) <= {"current"}:
            # pct config = GET …/config: pending values merged in unless --current.
            ct = self.state.ct(vmid)
            current = opts.get("current", "0") in ("1", "true", "yes", "on")
            conf = lxc_pending.current(ct, current_only=current)
            return Result(0, pctconf.render(conf, ct.raw_lxc))
        if sub == "destroy" and len(positional) == 1:
            checked = _validated("DELETE", ct_path, {**base, **opts})
            upid = lxc_power.destroy(
                self.state, ROOT, vmid,
                force=bool(checked.get("force")),
                unreferenced=bool(checked.get("destroy-unreferenced-disks")),
            )  # fmt: skip
            return self._wait(upid)
        return not_imitated(" ".join(argv))

    def _exec(self, args: list[str], stdin: str) -> Result:
        if "--" not in args:
            raise CliError("400 not enough arguments\npct exec <vmid> [<extra-args>] [OPTIONS]")
        split = args.index("--")
        head, command = args[:split], args[split + 1 :]
        positional, opts = _options(head)
        if len(positional) != 1 or not positional[0].isdigit() or set(opts) - {"keep-env"}:
            return not_imitated("pct exec " + " ".join(head))
        if not command:
            raise CliError("missing command")
        return self.hooks.exec(self.state, int(positional[0]), command, stdin)

    def _copy(self, sub: str, args: list[str], stdin: str) -> Result:
        """``pct push <vmid> /dev/stdin <dest> [--perms MODE]`` and ``pct pull <vmid> <path>
        /dev/stdout``: the node's own file system is not modelled, so the node side is the
        channel's input or output. ``--user``/``--group`` are accepted (ownership is not
        modelled in the guest)."""
        positional, opts = _options(args)
        node_side = "/dev/stdin" if sub == "push" else "/dev/stdout"
        if (
            len(positional) != 3
            or not positional[0].isdigit()
            or set(opts)
            - {
                "perms",
                "user",
                "group",
            }
        ):
            raise CliError(f"400 not enough arguments\npct {sub} <vmid> <file> <destination>")
        vmid, source, dest = int(positional[0]), positional[1], positional[2]
        if (source if sub == "push" else dest) != node_side:
            return not_imitated(f"pct {sub} with a node file other than {node_side}")
        if sub == "pull":
            return self.hooks.exec(self.state, vmid, ["cat", source], "")
        perms = opts.get("perms", "0644")
        return self.hooks.exec(
            self.state, vmid, ["install", "-m", perms, "/dev/stdin", dest], stdin
        )

    def _wait(self, upid: str) -> Result:
        """Follow the worker like the CLI does; print its log; fail like its ``die``."""
        deadline = time.monotonic() + self.task_timeout
        while True:
            task = self.state.tasks.get(upid)
            if task is None:
                raise CliError(f"no such task {upid}")
            if task.status == "stopped":
                break
            if time.monotonic() > deadline:
                raise CliError(f"task {upid} still running after {self.task_timeout:g}s")
            time.sleep(0.002)
        status = task.exitstatus or ""
        body = "".join(line + "\n" for line in task.lines[:-1])
        if status == "OK" or status.startswith("WARNINGS: "):
            return Result(0, body)
        return Result(CLI_ERROR, body, status + "\n")
