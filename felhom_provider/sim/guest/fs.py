"""The guest's root filesystem as an in-memory tree of files, directories and symlinks.

Only what the product touches is modelled: text files with a mode, directories and symbolic
links. Paths are absolute POSIX paths; symlinks in any component are followed as the kernel
does (at most 40 hops, like Linux's ``MAXSYMLINKS``). Ownership, timestamps, hard links and
binary contents are not imitated.

An SSH host key may be stored *lazily*: a node that records the key type and comment and is
turned into real key material (``hostkeys.generate``) the first time anybody reads it. Host keys
are random, so a key generated on first read cannot be told apart from one generated earlier;
laziness keeps creating many CTs cheap (RSA 3072 generation is the slow part).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from felhom_provider.sim.guest import hostkeys

FILE = "file"
DIR = "dir"
LINK = "link"


class FsError(Exception):
    """A filesystem call failed; ``reason`` is the strerror text coreutils print."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


ENOENT = "No such file or directory"
EISDIR = "Is a directory"
ENOTDIR = "Not a directory"
EEXIST = "File exists"
ENOTEMPTY = "Directory not empty"


@dataclass(frozen=True)
class Node:
    """One filesystem entry. Immutable so the template's nodes can be shared by every guest."""

    kind: str
    data: str = ""
    mode: int = 0o644
    lazy_key: str | None = None
    comment: str = ""


def node_out(node: Node) -> list[Any]:
    """A node as JSON (the guest payload's and ``Volume.files``' format)."""
    if node.lazy_key is not None:
        return [node.kind, node.data, node.mode, node.lazy_key, node.comment]
    return [node.kind, node.data, node.mode]


def node_in(raw: list[Any]) -> Node:
    """A node from :func:`node_out` output."""
    if len(raw) == 5:
        return Node(raw[0], raw[1], int(raw[2]), lazy_key=raw[3], comment=raw[4])
    return Node(raw[0], raw[1], int(raw[2]))


class VirtualFS:
    """A mutable mapping of absolute path to :class:`Node` with POSIX-like operations."""

    def __init__(self, nodes: dict[str, Node] | None = None) -> None:
        self.nodes: dict[str, Node] = dict(nodes) if nodes else {"/": Node(DIR, mode=0o755)}

    # -- path resolution -------------------------------------------------------------------
    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """Return the physical path of ``path``, following symlinks like ``realpath -m``."""
        pending = [p for p in ("/" + path).split("/") if p]
        done = "/"
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == ".":
                continue
            if name == "..":
                done = posixpath.dirname(done)
                continue
            candidate = posixpath.join(done, name)
            node = self.nodes.get(candidate)
            if node is not None and node.kind == LINK and (pending or follow_last):
                hops += 1
                if hops > 40:
                    raise FsError(path, "Too many levels of symbolic links")
                if node.data.startswith("/"):
                    done = "/"
                pending = [p for p in node.data.split("/") if p] + pending
                continue
            done = candidate
        return done

    def lookup(self, path: str, *, follow_last: bool = True) -> Node | None:
        """The node at ``path`` (after symlinks), or None when it does not exist."""
        return self.nodes.get(self.resolve(path, follow_last=follow_last))

    def exists(self, path: str) -> bool:
        """True when ``path`` names an existing entry (following symlinks, like ``test -e``)."""
        return self.lookup(path) is not None

    def is_dir(self, path: str) -> bool:
        """True for a directory (following symlinks)."""
        node = self.lookup(path)
        return node is not None and node.kind == DIR

    def is_file(self, path: str) -> bool:
        """True for a regular file (following symlinks)."""
        node = self.lookup(path)
        return node is not None and node.kind == FILE

    def is_link(self, path: str) -> bool:
        """True when the last component is a symlink (``test -L``)."""
        node = self.lookup(path, follow_last=False)
        return node is not None and node.kind == LINK

    # -- reading ----------------------------------------------------------------------------
    def read(self, path: str) -> str:
        """File contents; materialises a lazy host key first."""
        real = self.resolve(path)
        node = self.nodes.get(real)
        if node is None:
            raise FsError(path, ENOENT)
        if node.kind == DIR:
            raise FsError(path, EISDIR)
        if node.lazy_key is not None:
            self._materialise(real)
            node = self.nodes[real]
        return node.data

    def _materialise(self, real: str) -> None:
        private = real[: -len(".pub")] if real.endswith(".pub") else real
        node = self.nodes[real]
        key = hostkeys.generate(node.lazy_key or "ed25519", node.comment)
        for path, text, mode in (
            (private, key.private_text, 0o600),
            (private + ".pub", key.public_line, 0o644),
        ):
            if path in self.nodes and self.nodes[path].lazy_key is not None:
                self.nodes[path] = Node(FILE, text, mode)

    def listdir(self, path: str) -> list[str]:
        """Sorted names in a directory."""
        real = self.resolve(path)
        node = self.nodes.get(real)
        if node is None:
            raise FsError(path, ENOENT)
        if node.kind != DIR:
            raise FsError(path, ENOTDIR)
        prefix = real.rstrip("/") + "/"
        return sorted(
            p[len(prefix) :]
            for p in self.nodes
            if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != real
        )

    def walk(self, path: str) -> Iterator[str]:
        """Every physical path at or below ``path`` (no symlink following below it)."""
        real = self.resolve(path)
        prefix = real.rstrip("/") + "/"
        for p in list(self.nodes):
            if p == real or p.startswith(prefix):
                yield p

    def glob(self, pattern: str) -> list[str]:
        """Expand a shell glob like ``sh`` does (sorted; hidden files need an explicit dot)."""
        parts = [p for p in pattern.split("/") if p]
        found = ["/"]
        for part in parts:
            nxt: list[str] = []
            for base in found:
                if not any(c in part for c in "*?["):
                    cand = posixpath.join(base, part)
                    if self.lookup(cand, follow_last=False) is not None:
                        nxt.append(cand)
                    continue
                if not self.is_dir(base):
                    continue
                for name in self.listdir(base):
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(posixpath.join(base, name))
            found = nxt
        return sorted(found)

    # -- writing ----------------------------------------------------------------------------
    def _parent_ok(self, path: str) -> str:
        real = self.resolve(path, follow_last=False)
        parent = self.lookup(posixpath.dirname(real))
        if parent is None:
            raise FsError(path, ENOENT)
        if parent.kind != DIR:
            raise FsError(path, ENOTDIR)
        return real

    def write(self, path: str, data: str, *, mode: int | None = None, append: bool = False) -> None:
        """Create or replace a file (through a symlink, like ``open(O_CREAT)``)."""
        real = self.resolve(path)
        old = self.nodes.get(real)
        if old is not None and old.kind == DIR:
            raise FsError(path, EISDIR)
        self._parent_ok(real)
        if append and old is not None:
            data = self.read(real) + data
        keep = old.mode if old is not None else 0o644
        self.nodes[real] = Node(FILE, data, mode if mode is not None else keep)

    def put(self, path: str, node: Node, *, parents: bool = False) -> None:
        """Place a node at a physical path (used by the model itself, not by commands)."""
        if parents:
            self.mkdir(posixpath.dirname(path), parents=True)
        self.nodes[posixpath.normpath(path)] = node

    def mkdir(self, path: str, *, parents: bool = False, mode: int = 0o755) -> None:
        """Create a directory; with ``parents`` behave like ``mkdir -p``."""
        real = self.resolve(path)
        node = self.nodes.get(real)
        if node is not None:
            if node.kind == DIR and parents:
                return
            raise FsError(path, EEXIST)
        parent = posixpath.dirname(real)
        if parents and self.lookup(parent) is None:
            self.mkdir(parent, parents=True)
        self._parent_ok(real)
        self.nodes[real] = Node(DIR, mode=mode)

    def symlink(self, target: str, path: str) -> None:
        """Create a symlink at ``path`` pointing to ``target`` (which need not exist)."""
        real = self._parent_ok(path)
        if real in self.nodes:
            raise FsError(path, EEXIST)
        self.nodes[real] = Node(LINK, target, 0o777)

    def chmod(self, path: str, mode: int) -> None:
        """Change a node's mode bits."""
        real = self.resolve(path)
        node = self.nodes.get(real)
        if node is None:
            raise FsError(path, ENOENT)
        self.nodes[real] = replace(node, mode=mode)

    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Unlink a file or symlink; directories need ``recursive`` (``rm -r``)."""
        real = self.resolve(path, follow_last=False)
        node = self.nodes.get(real)
        if node is None:
            raise FsError(path, ENOENT)
        if node.kind == DIR:
            if not recursive:
                raise FsError(path, EISDIR)
            for p in list(self.walk(real)):
                del self.nodes[p]
            return
        del self.nodes[real]
