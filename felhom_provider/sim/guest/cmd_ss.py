"""``ss`` (iproute2 6.15) over the guest's sockets (``netinfo.sockets``).

Imitated options: ``-t``, ``-u``, ``-l``, ``-a``, ``-n``, ``-p``, ``-4``, ``-6``, ``-H``, in any
combination (``-tlnp``, ``-tulpn``). Without ``-l``/``-a`` only connected sockets are shown (the
guest has none); Unix, raw and packet sockets are not modelled. Without ``-n`` the port is shown
by service name (``ssh``, ``bootpc``), as netbase's ``/etc/services`` names them.

The layout is ss.c's column renderer for output that is not a terminal (``render_calc_width``
with ``compact_output``): each column is as wide as its longest entry, header included, plus its
left delimiter (one space, none for the port columns and ``Process``); addresses are right-
aligned and end in ``:``, ports left-aligned; ``Netid`` is hidden when one socket table is shown
(``-t`` alone). The queue columns are ``%-6d``. ``-p`` puts `` users:(("NAME",pid=P,fd=F))``
under ``Process``. Other options (``-e``, ``-i``, ``-m``, ``-s``, ``-x``, filters) are not
imitated.
"""

from __future__ import annotations

from felhom_provider.sim.guest import netinfo
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

_SERVICES = {22: "ssh", 68: "bootpc"}
# (header, left delimiter, right-aligned): ss.c ``columns[]``.
_COLUMNS = [
    ("Netid", "", False),
    ("State", " ", False),
    ("Recv-Q", " ", False),
    ("Send-Q", " ", False),
    ("Local Address:", " ", True),
    ("Port", "", False),
    ("Peer Address:", " ", True),
    ("Port", "", False),
    ("Process", "", False),
]


def ss(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ss`` with the options of the module docstring."""
    opts: set[str] = set()
    for a in argv[1:]:
        if a.startswith("-") and not a.startswith("--") and set(a[1:]) <= set("tulanp46H"):
            opts |= set(a[1:])
        else:
            return not_imitated(" ".join(argv))
    protos = {p for p, flag in (("tcp", "t"), ("udp", "u")) if flag in opts} or {"tcp", "udp"}
    families = {f for f, flag in ((4, "4"), (6, "6")) if flag in opts} or {4, 6}
    if "a" in opts:
        states = {"LISTEN", "UNCONN", "ESTAB"}
    elif "l" in opts:
        states = {"LISTEN", "UNCONN"}
    else:
        states = {"ESTAB"}
    chosen = [
        s
        for s in netinfo.sockets(model)
        if s.proto in protos and s.family in families and s.state in states
    ]
    rows = [
        [
            s.proto,
            s.state,
            f"{s.recv_q:<6}",
            f"{s.send_q:<6}",
            s.local + ":",
            _port(s.port, "n" in opts),
            s.peer + ":",
            "*",
            f' users:(("{s.process}",pid={s.pid},fd={s.fd}))' if "p" in opts else "",
        ]
        for s in chosen
    ]
    # One socket table: no Netid column. (ss hides State only for a one-state filter such as
    # "state established", which is not imitated: -l and the default select several.)
    hidden = {0} if len(protos) == 1 else set()
    table = ([] if "H" in opts else [[c[0] for c in _COLUMNS]]) + rows
    return Result(0, _render(table, hidden))


def _port(port: int, numeric: bool) -> str:
    return str(port) if numeric else _SERVICES.get(port, str(port))


def _render(table: list[list[str]], hidden: set[int]) -> str:
    shown = [i for i in range(len(_COLUMNS)) if i not in hidden]
    widths: dict[int, int] = {}
    first = True
    for i in shown:
        longest = max((len(row[i]) for row in table), default=0)
        widths[i] = longest + (len(_COLUMNS[i][1]) if not first and longest else 0)
        first = first and not widths[i]
    out = ""
    for row in table:
        line, started = "", False
        for i in shown:
            _, delim, right = _COLUMNS[i]
            printed = 0
            if started:
                line += delim
                printed = len(delim)
            started = True
            value = row[i]
            if right:
                line += " " * max(widths[i] - len(value) - printed, 0) + value
            else:
                line += value + " " * max(widths[i] - printed - len(value), 0)
        out += line + "\n"
    return out
