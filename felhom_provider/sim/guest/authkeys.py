"""``~/.ssh/authorized_keys`` as OpenSSH's sshd reads it for public-key login.

Sources: OpenSSH ``auth2-pubkey.c`` (``user_key_allowed``: ``AuthorizedKeysFile`` default
``.ssh/authorized_keys .ssh/authorized_keys2``), ``misc.c``/``auth.c`` ``auth_secure_path``
(``StrictModes yes``: the file and every directory up to the home directory must not be
group- or world-writable, else ``Authentication refused: bad ownership or modes``), and
``sshd(8)`` AUTHORIZED_KEYS FILE FORMAT (comment lines, optional leading options).

Not imitated: ownership (the guest file system models modes only), key options' effects
(``from=``, ``command=``, ``restrict``), certificates, ``AuthorizedKeysCommand``.
"""

from __future__ import annotations

import posixpath
import shlex

from felhom_provider.sim.guest.fs import FsError, VirtualFS

FILES = (".ssh/authorized_keys", ".ssh/authorized_keys2")
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


def secure_path(fs: VirtualFS, path: str, home: str) -> bool:
    """``auth_secure_path`` on modes: the file is regular and no group/other write bit is set
    on it or on any directory from its parent up to ``home``."""
    node = fs.lookup(path)
    if node is None or node.kind != "file" or node.mode & 0o022:
        return False
    directory = posixpath.dirname(fs.resolve(path))
    while True:
        dnode = fs.lookup(directory)
        if dnode is None or dnode.mode & 0o022:
            return False
        if directory in (home, "/"):
            return True
        directory = posixpath.dirname(directory)


def parse_line(line: str) -> tuple[str, str] | None:
    """(type, base64) of one authorized_keys line, skipping options; None for comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError:
        return None
    for i, word in enumerate(words[:-1]):
        if word in KEY_TYPES:
            return word, words[i + 1]
    return None


def usable_keys(fs: VirtualFS, home: str) -> set[tuple[str, str]]:
    """Keys sshd would accept for a user with this home directory."""
    found: set[tuple[str, str]] = set()
    for rel in FILES:
        path = posixpath.join(home, rel)
        if not secure_path(fs, path, home):
            continue
        try:
            text = fs.read(path)
        except FsError:
            continue
        for line in text.splitlines():
            parsed = parse_line(line)
            if parsed is not None:
                found.add(parsed)
    return found
