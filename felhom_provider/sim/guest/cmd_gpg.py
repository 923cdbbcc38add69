"""``gpg --show-keys --with-colons FILE`` in the guest, and the key file Docker's URL serves.

What is imitated is what the golden build uses to check Docker's apt key before apt trusts
it: ``gpg --show-keys --with-colons`` lists the keys in a file without importing them, in
GnuPG's colon format (GnuPG ``doc/DETAILS``, "Format of the colon listings"): per key a
``pub`` record (field 3 key length, 4 algorithm, 5 key id, 6 creation time, 12 capabilities),
an ``fpr`` record with the fingerprint in field 10, ``uid`` records (field 10 the user id),
and ``sub`` + ``fpr`` per subkey. Like GnuPG 2.4, the first run creates the home directory
``/root/.gnupg`` (mode 0700) and says so on stderr; a missing file is ``can't open`` and a
file without key material ``no valid OpenPGP data found.``, both exit status 2.

Key files are stand-ins: ASCII armor around base64 of a JSON list describing each key
(:func:`armor`); OpenPGP packets are not parsed or produced, signatures are not checked, and
fields GnuPG fills that the check does not read (validity computations, uid hash, compliance
flags, origin) are left empty. Options other than ``--show-keys``, ``--with-colons``,
``--with-fingerprint``, ``--batch``, ``--no-tty``, ``--quiet``/``-q`` are not imitated.

``served_docker_keys`` is what the simulated ``curl`` of Docker's key URL returns
(``cmd_apt.curl``); a test swaps it with :func:`serving_docker_keys` (for instance for
:data:`IMPOSTOR_KEY`, a key with Docker's user id but another fingerprint) to show a build
refusing a tampered key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

GNUPG_HOME = "/root/.gnupg"
_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_END = "-----END PGP PUBLIC KEY BLOCK-----"
_IGNORED = ("--with-fingerprint", "--batch", "--no-tty", "--quiet", "-q")


@dataclass(frozen=True)
class SimKey:
    """One public key as the colon listing shows it: primary key, one user id, one subkey."""

    fingerprint: str
    created: int
    uid: str
    subkey: str
    bits: int = 4096
    algo: int = 1  # RFC 4880 public-key algorithm 1: RSA

    @property
    def keyid(self) -> str:
        """The long key id: the fingerprint's last 16 hex digits (v4 keys)."""
        return self.fingerprint[-16:]


#: Docker's release key as docs.docker.com publishes it: primary 9DC8 5822 … 0EBF CD88
#: (RSA 4096, created 2017-02-22), signing subkey …7EA0 A9C3 F273 FCD8 (the id apt names
#: in ``NO_PUBKEY`` when the keyring is missing).
DOCKER_RELEASE_KEY = SimKey(
    fingerprint="9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
    created=1487788586,
    uid="Docker Release (CE deb) <docker@docker.com>",
    subkey="D3306A018370199E527AE7997EA0A9C3F273FCD8",
)

#: A tampered download: Docker's user id on a key that is not Docker's.
IMPOSTOR_KEY = SimKey(
    fingerprint="5A1B4C8E2D7F90631E4B8C2AF0D9E3B76C25A41D",
    created=1700000000,
    uid="Docker Release (CE deb) <docker@docker.com>",
    subkey="0B7C21D95E4F3A6817C2D40E9A5B6F3C21E8D7A4",
)

# One slot, swapped by ``serving_docker_keys`` (process-wide, like the simulated network).
_SERVED: list[tuple[SimKey, ...]] = [(DOCKER_RELEASE_KEY,)]


def served_docker_keys() -> tuple[SimKey, ...]:
    """The keys the simulated download of Docker's key URL currently contains."""
    return _SERVED[0]


@contextmanager
def serving_docker_keys(*keys: SimKey) -> Iterator[None]:
    """Serve ``keys`` from Docker's key URL inside the block (in-process test switch)."""
    before = _SERVED[0]
    _SERVED[0] = tuple(keys)
    try:
        yield
    finally:
        _SERVED[0] = before


def armor(keys: tuple[SimKey, ...]) -> str:
    """A stand-in key file: armor lines around base64 of the keys' JSON description."""
    body = base64.b64encode(json.dumps([asdict(k) for k in keys]).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([_BEGIN, "", *lines, _END]) + "\n"


def dearmor(text: str) -> list[SimKey]:
    """The keys in a stand-in key file; ``ValueError`` when it holds none."""
    if _BEGIN not in text or _END not in text:
        raise ValueError("no armor")
    inner = text.split(_BEGIN, 1)[1].split(_END, 1)[0]
    body = "".join(ln.strip() for ln in inner.splitlines() if ln.strip() and ":" not in ln)
    try:
        data = json.loads(base64.b64decode(body, validate=True))
        keys = [SimKey(**item) for item in data]
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("no key material") from exc
    if not keys:
        raise ValueError("no keys")
    return keys


def _record(kind: str, width: int, **at: str) -> str:
    """One colon record: ``at`` maps ``f<N>`` (DETAILS field number, 1-based) to a value."""
    fields = [kind] + [""] * (width - 1)
    for name, value in at.items():
        fields[int(name[1:]) - 1] = value
    return ":".join(fields) + ":"


def colons(key: SimKey) -> str:
    """The ``--with-colons`` listing of one key (``--show-keys`` shows no trust: ``-``)."""
    common = {"f2": "-", "f3": str(key.bits), "f4": str(key.algo), "f6": str(key.created)}
    return (
        "\n".join(
            [
                _record("pub", 12, **common, f5=key.keyid, f9="-", f12="scSC"),
                _record("fpr", 10, f10=key.fingerprint),
                _record("uid", 10, f2="-", f6=str(key.created), f10=key.uid),
                _record("sub", 12, **common, f5=key.subkey[-16:], f12="s"),
                _record("fpr", 10, f10=key.subkey),
            ]
        )
        + "\n"
    )


def gpg(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``gpg --show-keys --with-colons [FILE…]`` (stdin when no file is named)."""
    show = with_colons = False
    files: list[str] = []
    for a in argv[1:]:
        if a == "--show-keys":
            show = True
        elif a == "--with-colons":
            with_colons = True
        elif a in _IGNORED:
            pass
        elif a.startswith("-") and a != "-":
            return not_imitated(" ".join(argv))
        else:
            files.append(a)
    if not (show and with_colons):
        return not_imitated(" ".join(argv))
    err = ""
    if not model.fs.exists(GNUPG_HOME):
        model.fs.mkdir(GNUPG_HOME, parents=True, mode=0o700)
        err += f"gpg: directory '{GNUPG_HOME}' created\n"
    out = ""
    for name in files or ["-"]:
        if name != "-" and not model.fs.is_file(name):
            return Result(2, out, err + f"gpg: can't open '{name}': No such file or directory\n")
        text = stdin if name == "-" else model.fs.read(name)
        try:
            keys = dearmor(text)
        except ValueError:
            return Result(2, out, err + "gpg: no valid OpenPGP data found.\n")
        out += "".join(colons(k) for k in keys)
    return Result(0, out, err)
