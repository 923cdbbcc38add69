"""Public-key lines checked by wire format: every key type the shell can pin passes as the
SSH library reads it, and each way a pasted line can be broken is refused naming the field."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from felhom_provider.errors import ConfigError
from felhom_provider.guest.hostkeys import parse_public_key
from felhom_provider.guest.keyline import check_key_line

FIELD = "felhom:nodeShell.hostKey"


def _line(private: Any) -> str:
    """The OpenSSH public-key line of a freshly generated key, with a comment."""
    public: bytes = private.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    return public.decode() + " root@pve"


LINES = {
    "ssh-ed25519": _line(ed25519.Ed25519PrivateKey.generate()),
    "ecdsa-sha2-nistp256": _line(ec.generate_private_key(ec.SECP256R1())),
    "ecdsa-sha2-nistp384": _line(ec.generate_private_key(ec.SECP384R1())),
    "ecdsa-sha2-nistp521": _line(ec.generate_private_key(ec.SECP521R1())),
    "ssh-rsa": _line(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
}
ED_BLOB = base64.b64decode(LINES["ssh-ed25519"].split()[1])


@pytest.mark.parametrize("key_type", sorted(LINES))
def test_every_pinnable_key_type_passes_with_the_blob_the_ssh_library_reads(
    key_type: str,
) -> None:
    line = LINES[key_type]
    checked = check_key_line(line, field=FIELD)
    assert checked.key_type == key_type
    assert checked.blob == parse_public_key(line, field=FIELD).asbytes()


def _blob(*fields: bytes) -> str:
    raw = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
    return base64.b64encode(raw).decode()


ED = ED_BLOB[4 + len(b"ssh-ed25519") + 4 :]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "expected an OpenSSH public key line"),
        ("ssh-ed25519", "expected an OpenSSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported host key type 'ssh-dss'"),
        ("ssh-ed25519 not*base64", "unreadable ssh-ed25519 key"),
        ("ssh-ed25519 " + _blob(b"ssh-rsa", ED), "key blob is ssh-rsa, line says ssh-ed25519"),
        (
            "ssh-ed25519 " + _blob(b"ssh-\xffed25519", ED),
            "key blob is ssh-\ufffded25519, line says ssh-ed25519",
        ),
        ("ssh-ed25519 " + _blob(b""), "key blob is empty, line says ssh-ed25519"),
        ("ssh-ed25519 " + _blob(b"ssh-ed25519"), "wrong number of fields"),
        ("ssh-ed25519 " + _blob(b"ssh-ed25519", ED, b"x"), "wrong number of fields"),
        ("ssh-ed25519 " + _blob(b"ssh-ed25519", ED[:31]), "31-byte key"),
        ("ssh-ed25519 " + _blob(b"ssh-ed25519", b""), "wrong number of fields"),
        ("ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01"), "wrong number of fields"),
        (
            "ecdsa-sha2-nistp256 " + _blob(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04" + ED),
            "curve b'nistp384'",
        ),
    ],
)
def test_broken_lines_are_refused_naming_the_field(line: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_key_line(line, field=FIELD)
    assert info.value.field == FIELD
    assert problem in str(info.value)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 20])
def test_a_truncated_blob_is_refused(cut: int) -> None:
    raw = ED_BLOB
    line = "ssh-ed25519 " + base64.b64encode(raw[:-cut]).decode()
    with pytest.raises(ConfigError, match="unreadable ssh-ed25519 key: truncated"):
        check_key_line(line, field=FIELD)


def test_trailing_bytes_after_the_last_field_are_refused() -> None:
    raw = ED_BLOB + b"\x00\x00"
    with pytest.raises(ConfigError) as info:
        check_key_line("ssh-ed25519 " + base64.b64encode(raw).decode(), field=FIELD)
    assert info.value.message == f"{FIELD}: unreadable ssh-ed25519 key: truncated length"
