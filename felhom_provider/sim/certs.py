"""The simulator's TLS key and self-signed certificate, created on first start.

PVE's ``pveproxy`` serves a node certificate signed by the cluster CA; clients pin either
the CA or the certificate's SHA-256 fingerprint, shown by PVE as colon-separated upper-case
hex. The simulator issues one self-signed certificate for ``127.0.0.1``/``localhost`` and
reports the same kind of fingerprint in ``endpoint.json``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from felhom_provider.sim.persist import atomic_write_bytes


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the DER certificate as ``AB:CD:…`` (PVE's display format)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    digest = cert.fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key atomically, mode 0600 from the moment the file exists.

    The temporary file is opened with ``O_CREAT | O_EXCL`` and mode 0600, so no process can
    read it at any point (no write-then-chmod window), then renamed over ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_cert(tls_dir: Path, node: str) -> tuple[Path, Path, str]:
    """Create key and certificate in ``tls_dir`` unless present; return paths and fingerprint."""
    cert_path, key_path = tls_dir / "pve-ssl.pem", tls_dir / "pve-ssl.key"
    if not (cert_path.exists() and key_path.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"{node}.sim.invalid"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PVE simulator"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, fingerprint(cert_path.read_bytes())
