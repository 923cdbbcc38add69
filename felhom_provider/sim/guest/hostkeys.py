"""Real SSH host keys for simulated guests, and their fingerprints.

``ssh-keygen -A`` in OpenSSH 10 creates the host key types listed by ``sshd -G`` that are
missing: RSA (3072 bits), ECDSA (nistp256) and Ed25519 (DSA support is gone). The keys made here
are real, in OpenSSH's file formats, so a client's handshake with the guest's sshd sees exactly
the key that ``ssh-keygen -l -f`` reports inside the guest.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from felhom_provider.sim.guest import keypool

# Order and names as ssh-keygen -A prints them ("generating new host keys: RSA ECDSA ED25519").
KEY_TYPES: tuple[str, ...] = ("rsa", "ecdsa", "ed25519")
LABELS = {"rsa": "RSA", "ecdsa": "ECDSA", "ed25519": "ED25519"}
BITS = {"rsa": 3072, "ecdsa": 256, "ed25519": 256}
_WIRE_TO_TYPE = {
    "ssh-rsa": "rsa",
    "ecdsa-sha2-nistp256": "ecdsa",
    "ssh-ed25519": "ed25519",
}


def host_key_path(key_type: str) -> str:
    """Where sshd's default ``HostKey`` for this type lives."""
    return f"/etc/ssh/ssh_host_{key_type}_key"


@dataclass(frozen=True)
class GeneratedKey:
    """A private key in OpenSSH PEM format and its one-line public key."""

    key_type: str
    private_text: str
    public_line: str


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Key objects of recently generated keys by their OpenSSH private text. Loading an RSA private
# key from text re-validates it (OpenSSL's RSA_check_key runs primality tests: ~0.1 s for 3072
# bits); a key this process generated itself is known to be valid, so the guest sshd takes the
# object from here instead. Bounded: an entry only saves work, never changes a result.
_RECENT_LIMIT = 4096
_recent: OrderedDict[str, PrivateKey] = OrderedDict()
_recent_lock = threading.Lock()


def _remember(text: str, key: PrivateKey) -> None:
    with _recent_lock:
        _recent[text] = key
        while len(_recent) > _RECENT_LIMIT:
            _recent.popitem(last=False)


def generated_key(private_text: str) -> PrivateKey | None:
    """The key object behind ``private_text`` if this process generated it recently."""
    with _recent_lock:
        return _recent.get(private_text)


def generate(key_type: str, comment: str) -> GeneratedKey:
    """Generate a fresh key of ``key_type`` with the given comment (``root@<hostname>``)."""
    private: PrivateKey
    if key_type == "rsa":
        private = keypool.rsa_key()
    elif key_type == "ecdsa":
        private = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    _remember(pem, private)
    return GeneratedKey(key_type, pem, f"{public} {comment}\n")


@dataclass(frozen=True)
class PublicKeyInfo:
    """What ``ssh-keygen -l`` shows about a public key."""

    key_type: str
    bits: int
    fingerprint: str
    comment: str

    def line(self) -> str:
        """``ssh-keygen -l`` output: ``<bits> SHA256:<fp> <comment> (<TYPE>)``."""
        comment = self.comment or "no comment"
        return f"{self.bits} {self.fingerprint} {comment} ({LABELS[self.key_type]})"


def fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint: unpadded base64 of the SHA-256 of the key blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def parse_public_line(line: str) -> PublicKeyInfo:
    """Parse ``<wire-type> <base64> [comment]``; raises ValueError for anything else."""
    fields = line.strip().split(None, 2)
    if len(fields) < 2 or fields[0] not in _WIRE_TO_TYPE:
        raise ValueError("not a public key")
    key_type = _WIRE_TO_TYPE[fields[0]]
    blob = base64.b64decode(fields[1])
    comment = fields[2] if len(fields) > 2 else ""
    return PublicKeyInfo(key_type, BITS[key_type], fingerprint_of_blob(blob), comment)


def public_line_of_private(private_text: str, comment: str = "") -> str:
    """Derive the public line from an OpenSSH private key (what ssh-keygen -y does)."""
    key = serialization.load_ssh_private_key(private_text.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode()} {comment}".rstrip() + "\n"
