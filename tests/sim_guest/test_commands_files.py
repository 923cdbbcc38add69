"""ls, stat, cat, grep, wc, head, tail and the shell around them, compared with Debian 13.

Expected texts are what coreutils 9.7 and grep 3.11 print for the same tree; each case names
the source that fixes the layout. Every entry's time is the template's build time
(``fsinfo.TEMPLATE_TIME``, more than six months back, so ls prints the year).
"""

from __future__ import annotations

import pytest

from felhom_provider.sim.guest import fsinfo
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result
from tests.sim_guest.helpers import created_guest, run, sh, start

TREE = {
    "/srv/app/a.conf": "Port 22\n# comment\nListenAddress 0.0.0.0\nport 2222\n",
    "/srv/app/b.log": "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n",
    "/srv/app/.hidden": "x\n",
    "/srv/app/sub/c.txt": "hello world\nhelloworld\n",
}


@pytest.fixture(scope="module")
def base() -> GuestModel:
    model = start(created_guest())
    for path, text in TREE.items():
        model.fs.mkdir(path.rsplit("/", 1)[0], parents=True)
        model.fs.write(path, text)
    model.fs.symlink("a.conf", "/srv/app/link")
    return model


@pytest.fixture
def guest(base: GuestModel) -> GuestModel:
    return GuestModel.from_payload(base.to_payload())


CASES: list[tuple[str, str, Result]] = [
    # ls.c: not a terminal → one name per line; names in C.UTF-8 (code point) order.
    ("ls plain", "ls /srv/app", Result(0, "a.conf\nb.log\nlink\nsub\n")),
    ("ls -a", "ls -a /srv/app", Result(0, ".\n..\n.hidden\na.conf\nb.log\nlink\nsub\n")),
    ("ls -A -1", "ls -A1 /srv/app", Result(0, ".hidden\na.conf\nb.log\nlink\nsub\n")),
    # ls.c print_long_format: mode, links (right), owner, group (left), size (right),
    # "%b %e  %Y" for a time older than six months, name, " -> target"; "total" in 1K blocks.
    (
        "ls -l",
        "ls -l /srv/app",
        Result(
            0,
            "total 12\n"
            "-rw-r--r-- 1 root root   50 Oct  4  2025 a.conf\n"
            "-rw-r--r-- 1 root root   56 Oct  4  2025 b.log\n"
            "lrwxrwxrwx 1 root root    6 Oct  4  2025 link -> a.conf\n"
            "drwxr-xr-x 2 root root 4096 Oct  4  2025 sub\n",
        ),
    ),
    # gnulib human_readable (ls -h): 1024-based, rounded up, one decimal below 10.
    (
        "ls -lh dir itself",
        "ls -ldh /srv/app /srv/app/sub/c.txt",
        Result(
            0,
            "drwxr-xr-x 3 root root 4.0K Oct  4  2025 /srv/app\n"
            "-rw-r--r-- 1 root root   23 Oct  4  2025 /srv/app/sub/c.txt\n",
        ),
    ),
    # ls.c: files first, then each directory under a "name:" header, blank line between.
    (
        "ls -R",
        "ls -R /srv/app",
        Result(0, "/srv/app:\na.conf\nb.log\nlink\nsub\n\n/srv/app/sub:\nc.txt\n"),
    ),
    (
        "ls missing operand",
        "ls /srv/app/sub /nope",
        Result(
            2, "/srv/app/sub:\nc.txt\n", "ls: cannot access '/nope': No such file or directory\n"
        ),
    ),
    ("ls dangling link", "ln -s /nowhere /srv/app/dead && ls /srv/app/dead",
     Result(0, "/srv/app/dead\n")),
    ("ls empty name", "ls ''", Result(2, "", "ls: cannot access '': No such file or directory\n")),
    # stat.c default_format (coreutils 9: "Device: %Hd,%Ld", "%-10i  Links: %h").
    (
        "stat default",
        "stat /srv/app/a.conf",
        Result(
            0,
            "  File: /srv/app/a.conf\n"
            "  Size: 50        \tBlocks: 8          IO Block: 4096   regular file\n"
            f"Device: 252,5\tInode: {0:<10}  Links: 1\n"
            "Access: (0644/-rw-r--r--)  Uid: (    0/    root)   Gid: (    0/    root)\n"
            "Access: 2025-10-04 12:00:00.000000000 +0000\n"
            "Modify: 2025-10-04 12:00:00.000000000 +0000\n"
            "Change: 2025-10-04 12:00:00.000000000 +0000\n"
            " Birth: -\n",
        ),
    ),
    ("stat -c", "stat -c '%n %s %a %A %U:%G %F' /srv/app/sub", Result(
        0, "/srv/app/sub 4096 755 drwxr-xr-x root:root directory\n")),
    ("stat --format link", "stat --format=%N /srv/app/link",
     Result(0, "/srv/app/link -> a.conf\n")),
    ("stat -L", "stat -L -c %F /srv/app/link", Result(0, "regular file\n")),
    ("stat missing", "stat /nope",
     Result(1, "", "stat: cannot statx '/nope': No such file or directory\n")),
    ("cat", "cat /srv/app/sub/c.txt /srv/app/.hidden", Result(0, "hello world\nhelloworld\nx\n")),
    # grep(1): one file → no prefix; -n "N:"; -i; status 1 when nothing is selected.
    ("grep", "grep Port /srv/app/a.conf", Result(0, "Port 22\n")),
    ("grep -in", "grep -in port /srv/app/a.conf", Result(0, "1:Port 22\n4:port 2222\n")),
    ("grep -v -c", "grep -vc '^#' /srv/app/a.conf", Result(0, "3\n")),
    ("grep no match", "grep nothing /srv/app/a.conf", Result(1, "")),
    ("grep -E", "grep -E '^(Port|port) [0-9]{4}$' /srv/app/a.conf", Result(0, "port 2222\n")),
    ("grep BRE interval", r"grep '^port [0-9]\{4\}' /srv/app/a.conf", Result(0, "port 2222\n")),
    ("grep BRE literal braces", "grep -c 'a{1}' /srv/app/a.conf", Result(1, "0\n")),
    ("grep -F", "grep -F 0.0.0.0 /srv/app/a.conf", Result(0, "ListenAddress 0.0.0.0\n")),
    ("grep long options", "grep --fixed-strings --ignore-case --count port /srv/app/a.conf",
     Result(0, "2\n")),
    ("grep -w", "grep -w hello /srv/app/sub/c.txt", Result(0, "hello world\n")),
    ("grep -o", "grep -o 'o.' /srv/app/sub/c.txt", Result(0, "o \nor\now\nor\n")),
    ("grep class", "grep -c '[[:digit:]]' /srv/app/a.conf", Result(0, "3\n")),
    # several files or -r → "FILE:" prefixes; -l prints names; -r walks in name order here.
    (
        "grep -r",
        "grep -rn hello /srv",
        Result(0, "/srv/app/sub/c.txt:1:hello world\n/srv/app/sub/c.txt:2:helloworld\n"),
    ),
    ("grep -rl", "grep -rl -e one -e Port /srv/app",
     Result(0, "/srv/app/a.conf\n/srv/app/b.log\n")),
    ("grep -c files", "grep -c o /srv/app/a.conf /srv/app/sub/c.txt", Result(
        0, "/srv/app/a.conf:3\n/srv/app/sub/c.txt:2\n")),
    ("grep -q", "grep -q Port /srv/app/a.conf /nope", Result(0, "")),
    ("grep error", "grep Port /nope /srv/app/a.conf", Result(
        2, "/srv/app/a.conf:Port 22\n", "grep: /nope: No such file or directory\n")),
    ("grep -s", "grep -s Port /nope", Result(2, "")),
    ("grep dir", "grep x /srv", Result(2, "", "grep: /srv: Is a directory\n")),
    ("grep stdin", "cat /srv/app/b.log | grep -n ^t", Result(0, "2:two\n3:three\n10:ten\n")),
    # wc.c: one count of one input is not padded; otherwise the width of the total size
    # (at least 7 for a pipe).
    ("wc -l", "wc -l /srv/app/b.log", Result(0, "11 /srv/app/b.log\n")),
    ("wc default", "wc /srv/app/sub/c.txt", Result(0, " 2  3 23 /srv/app/sub/c.txt\n")),
    ("wc pipe", "cat /srv/app/sub/c.txt | wc", Result(0, "      2       3      23\n")),
    ("wc -l pipe", "ls /srv/app | wc -l", Result(0, "4\n")),
    (
        "wc total",
        "wc -lc /srv/app/a.conf /srv/app/sub/c.txt",
        Result(0, " 4 50 /srv/app/a.conf\n 2 23 /srv/app/sub/c.txt\n 6 73 total\n"),
    ),
    ("wc missing", "wc -w /nope", Result(1, "", "wc: /nope: No such file or directory\n")),
    # head.c/tail.c: default 10 lines; "==> FILE <==" headers with several files.
    ("head default", "head /srv/app/b.log | tail -n 1", Result(0, "ten\n")),
    ("head -n", "head -n 2 /srv/app/b.log", Result(0, "one\ntwo\n")),
    ("head -N", "head -3 /srv/app/b.log | wc -l", Result(0, "3\n")),
    ("head -n -N", "head -n -9 /srv/app/b.log", Result(0, "one\ntwo\n")),
    ("head -c", "head -c 5 /srv/app/b.log", Result(0, "one\nt")),
    ("tail -n", "tail -n 2 /srv/app/b.log", Result(0, "ten\neleven\n")),
    ("tail -n +N", "tail -n +10 /srv/app/b.log", Result(0, "ten\neleven\n")),
    ("tail -c", "tail -c 4 /srv/app/sub/c.txt", Result(0, "rld\n")),
    (
        "tail headers",
        "tail -n 1 /srv/app/sub/c.txt /srv/app/.hidden",
        Result(0, "==> /srv/app/sub/c.txt <==\nhelloworld\n\n==> /srv/app/.hidden <==\nx\n"),
    ),
    ("head missing", "head /nope", Result(
        1, "", "head: cannot open '/nope' for reading: No such file or directory\n")),
    ("head bad count", "head -n x /srv/app/b.log",
     Result(1, "", "head: invalid number of lines: 'x'\n")),
]  # fmt: skip


@pytest.mark.parametrize(("script", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_prints_what_debian_prints(
    guest: GuestModel, script: str, expected: Result
) -> None:
    res = sh(guest, script)
    if script == "stat /srv/app/a.conf":
        inode = fsinfo.lstat(guest.fs, "/srv/app/a.conf").inode
        expected = Result(0, expected.stdout.replace(f"{0:<10}", f"{inode:<10}"))
    assert res == expected


@pytest.mark.parametrize(
    "argv",
    [["tail", "-f", "/var/log/dpkg.log"], ["ls", "--color=always"], ["grep", "-A", "1", "x"]],
)
def test_options_outside_the_subset_are_not_imitated(guest: GuestModel, argv: list[str]) -> None:
    res = run(guest, *argv)
    assert res.code == 127 and "not imitated by the simulator" in res.stderr


SHELL_CASES: list[tuple[str, Result]] = [
    ("false; echo $?", Result(0, "1\n")),
    ("echo a; exit 3; echo b", Result(3, "a\n")),
    ("false; exit", Result(1, "")),
    ("test -e /nope || exit 4", Result(4, "")),
    ("exit x", Result(2, "", "sh: 1: exit: Illegal number: x\n")),
    ('grep -q Port /srv/app/a.conf; echo "status $?"', Result(0, "status 0\n")),
    ("ls /nope 2>/dev/null || echo missing", Result(0, "missing\n")),
    ("ls /nope 2>&1 | wc -l", Result(0, "1\n")),
    ("wc -l < /srv/app/b.log", Result(0, "11\n")),
    ("ls /srv/app/*.conf /srv/app/*.none", Result(
        2, "/srv/app/a.conf\n",
        "ls: cannot access '/srv/app/*.none': No such file or directory\n")),
    ("grep -c o /srv/app/sub/*", Result(0, "2\n")),
    ("touch /srv/app/new && ls /srv/app | grep -c new", Result(0, "1\n")),
    ("whoami; id; id -u; id -un", Result(
        0, "root\nuid=0(root) gid=0(root) groups=0(root)\n0\nroot\n")),
    ("touch /no/dir/f",
     Result(1, "", "touch: cannot touch '/no/dir/f': No such file or directory\n")),
]  # fmt: skip


@pytest.mark.parametrize(("script", "expected"), SHELL_CASES, ids=[c[0] for c in SHELL_CASES])
def test_shell_composes_the_commands(guest: GuestModel, script: str, expected: Result) -> None:
    assert sh(guest, script) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1023, "1023"), (1024, "1.0K"), (1025, "1.1K"), (4096, "4.0K"), (10240, "10K"),
     (10241, "11K"), (1048575, "1.0M"), (8 * 1024**3, "8.0G"), (7_900_000_000, "7.4G")],
)  # fmt: skip
def test_human_sizes_round_up_like_gnulib(value: int, text: str) -> None:
    assert fsinfo.human_size(value) == text
