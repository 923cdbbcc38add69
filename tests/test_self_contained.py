"""The repository stands on its own (design §2.17): no tracked file points outside it.

Every tracked text file (code, tests, docs, scripts, config) is scanned for:

* relative paths (``../x``, and ``Path(...) / ".."`` or ``parents[k]`` in Python) that,
  resolved from the file's own folder, leave the repository;
* absolute paths of the machine the project was written on and of other checkouts: the
  workplace root, any home directory (``/home/<name>/``, ``/Users/<name>/``), and the names of
  documents that only exist outside the repository;
* home-relative paths (``~/…``) other than the runtime locations listed in
  :data:`RUNTIME_LOCATIONS`;
* markdown links whose target is not a tracked file or folder of the repository.

What is legitimate and why: paths *inside a simulated or real guest* (``/etc/ssh``,
``/root/.bash_history``, ``/home/*/…``) name the guest's file system, not a repository
input; runtime locations the project creates for itself (the toolchain cache
``~/.cache/felhom``, the Go module and build caches, temporary directories) are outputs, not
inputs, and a fresh clone works without them. Everything else outside the repository is an
error. The patterns below are spelled with character classes so that this file does not match
itself.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Home-relative locations the project creates at run time (caches), never reads as input.
RUNTIME_LOCATIONS = ("~/.cache/felhom", "~/.cache/go-build", "~/go/pkg/mod", "~/.pulumi")

#: The operator's own files that the docs tell them how to write (libpq's password file and
#: the stack passphrase file of a shared state backend); the project never reads them itself.
OPERATOR_FILES = ("~/.pgpass", "~/.felhom-passphrase")

#: Relative paths that leave the repository on purpose, with the reason. Each entry must
#: still be present (a stale entry fails, so the list only shrinks).
ALLOWED_ESCAPES: dict[tuple[str, str], str] = {
    # Go's ``replace`` directive inside the toolchain's build tree (<src>/pkg -> <src>/sdk),
    # quoted in prose; it names no file of this or any other checkout.
    ("README.md", "../sdk"): "Go replace directive in the toolchain build tree",
}

#: Files that still read an outside path because another change moves the data in; each
#: entry fails once the file is clean, so it must be removed then.
PENDING: dict[str, str] = {}

FORBIDDEN = (
    (re.compile(r"/wor[k]/"), "the workplace root"),
    (re.compile(r"(?<![\w.*])/(?:hom[e]|User[s])/(?!\*)[A-Za-z_][\w.-]*/"), "a home directory"),
    (re.compile(r"\bshare[d]/(?:pve-api|seed|reference)\b"), "a folder beside the checkout"),
    (re.compile(r"\.\./share[d]\b"), "a folder beside the checkout"),
    (re.compile(r"\bDESIG[N]\.md\b"), "a design document outside the repository"),
    (re.compile(r"golden-base-bringup-finding[s]"), "a document outside the repository"),
    (
        re.compile(r"\b(?:pve-behaviou[r]|field-anchor[s]|style-anchor[s])\.md\b"),
        "an outside document",
    ),
    (
        re.compile(r"\bpulumi-dynamic-provider[s]\.md\b"),
        "an outside document",
    ),
)

# ``${XDG_CACHE_HOME:-~/.cache}/felhom`` in shell counts as ``~/.cache/felhom``.
_HOME_RELATIVE = re.compile(r"(?<![\w$}/.])~/[\w./-]*(?:\}/[\w.-]+)?")
_RELATIVE_UP = re.compile(r"(?<![\w./*-])((?:\.\./)+[\w.-]*)")
_PY_DOTDOT = re.compile(r"/\s*[\"']\.\.[\"']")
_PY_PARENTS = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")
_MD_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def tracked_files() -> list[str]:
    """Tracked files of the checkout; a copy without ``.git`` is walked instead."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, text=True
        ).stdout
        return sorted(p for p in out.split("\0") if p and (REPO / p).is_file())
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".felhom", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
        return sorted(
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if p.is_file()
            and not skip & set(p.relative_to(REPO).parts)
            and "__pycache__" not in p.parts
        )


def _text(rel: str) -> str | None:
    data = (REPO / rel).read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _escapes(rel: str, target: str) -> bool:
    """Does ``target``, relative to ``rel``'s folder, leave the repository?"""
    depth = 0
    for part in (*PurePosixPath(rel).parent.parts, *PurePosixPath(target).parts):
        depth = depth - 1 if part == ".." else depth + (part != ".")
        if depth < 0:
            return True
    return False


def problems_in(rel: str, text: str) -> Iterator[tuple[str, str]]:
    """(offending text, why) for every outside reference in one file."""
    for pattern, why in FORBIDDEN:
        for m in pattern.finditer(text):
            yield m.group(0), why
    for m in _HOME_RELATIVE.finditer(text):
        if not m.group(0).replace("}", "").startswith(RUNTIME_LOCATIONS + OPERATOR_FILES):
            yield m.group(0), "a home-directory path that is not a runtime cache"
    for m in _RELATIVE_UP.finditer(text):
        token = m.group(1)
        if _escapes(rel, token) and (rel, token) not in ALLOWED_ESCAPES:
            yield token, "a relative path leaving the repository"
    if rel.endswith(".py"):
        depth = len(PurePosixPath(rel).parts) - 1
        for m in _PY_PARENTS.finditer(text):
            if int(m.group(1)) >= depth + 1:
                yield m.group(0), "a parent above the repository"
        for m in _PY_DOTDOT.finditer(text):
            yield m.group(0), "a '..' path component in code"
    if rel.endswith(".md"):
        for m in _MD_LINK.finditer(text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue  # a URL, not a path
            resolved = (REPO / rel).parent / target
            if _escapes(rel, target) or not resolved.exists():
                yield target, "a markdown link to nothing inside the repository"


#: This file: its examples below are outside paths on purpose.
SELF = "tests/test_self_contained.py"


def _all_problems() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for rel in tracked_files():
        if rel == SELF:
            continue
        text = _text(rel)
        if text is not None:
            hits = list(problems_in(rel, text))
            if hits:
                found[rel] = hits
    return found


def test_no_tracked_file_points_outside_the_repository() -> None:
    found = {rel: hits for rel, hits in _all_problems().items() if rel not in PENDING}
    assert found == {}, "\n".join(
        f"{rel}: {tok!r} ({why})" for rel, v in found.items() for tok, why in v
    )


def test_exemptions_are_still_needed() -> None:
    found = _all_problems()
    stale = [rel for rel in PENDING if rel not in found]
    assert stale == [], f"remove from PENDING, these files are clean now: {stale}"
    texts = {rel: _text(rel) or "" for rel, _ in ALLOWED_ESCAPES}
    unused = [key for key in ALLOWED_ESCAPES if key[1] not in texts[key[0]]]
    assert unused == [], f"remove from ALLOWED_ESCAPES, no longer present: {unused}"


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        ("docs/x.md", "see [the design](../../elsewhere/DESIG" + "N.md)", 3),
        ("tests/a/t.py", 'Path(__file__).resolve().parents[3] / "x"', 1),
        ("tests/a/t.py", 'Path(__file__).resolve().parents[2] / ".." / "x"', 1),
        ("README.md", "cat ../sibling/file", 1),
        ("README.md", "/wo" + "rk/anything and /ho" + "me/alice/.ssh/id", 2),
        ("README.md", "cache in ~/.cache/felhom but keys in ~/.ssh/id_ed25519", 1),
        ("x.py", "the schema in share" + "d/pve-api/", 1),
        # legitimate: guest paths, runtime caches, links and paths inside the repository
        ("felhom_provider/sim/guest/t.py", '"/etc/os-release": "../usr/lib/os-release"', 0),
        ("x.py", "rm -f /root/.bash_history /home/*/.bash_history", 0),
        ("tests/a/t.py", 'Path(__file__).resolve().parents[2] / "stacks"', 0),
        ("docs/x.md", "[engine](engine.md) [readme](../README.md) [web](https://x.invalid/a)", 0),
        ("README.md", "the toolchain in ~/.cache/felhom and /tmp/x, /lib/../etc in a guest", 0),
    ],
)
def test_the_scanner_tells_outside_paths_from_legitimate_ones(
    rel: str, text: str, expected: int
) -> None:
    assert len(list(problems_in(rel, text))) == expected, list(problems_in(rel, text))
