"""Provider settings from the raw stack config: typed, validated, secrets never shown."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.secrets import Secret
from felhom_provider.settings import parse_settings
from tests.unit.resources._fakes import SECRET, config

FP = ":".join(["AB"] * 32)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLqNNhslU5MDVt/oOvJpLdPestRmcVtTsAUlug9cUY5"
SHELL = {"host": "127.0.0.1", "hostKey": HOST_KEY, "privateKeyPath": "/k"}


def parse(**overrides: Any):
    raw = config(**overrides)
    return parse_settings(raw.get)


def pve(**fields: Any) -> str:
    base = {"endpoint": "https://127.0.0.1:8006", "node": "pve1", "tokenId": "felhom@pve!agent"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_json_text_and_decoded_objects_both_parse() -> None:
    settings = parse(**{"felhom:pve": pve(tlsFingerprint=FP)})
    assert settings.pve.tls_fingerprint_sha256 == FP
    assert settings.pve.token_secret.reveal() == SECRET
    assert settings.guest_ssh_port == 2222
    raw = config(**{"felhom:pve": json.loads(pve(caBundle="/etc/ca.pem"))})
    assert parse_settings(raw.get).pve.ca_bundle == "/etc/ca.pem"


def test_node_shell_and_limits() -> None:
    shell = {
        "host": "127.0.0.1",
        "port": 2200,
        "user": "root",
        "hostKey": "ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOLqNNhslU5MDVt/oOvJpLdPestRmcVtTsAUlug9cUY5",
        "privateKeyPath": "/k",
    }
    settings = parse(
        **{"felhom:nodeShell": json.dumps(shell), "felhom:limits": '{"restoresPerNode": 3}'}
    )
    assert settings.node_shell is not None and settings.node_shell.port == 2200
    assert settings.limits.restores_per_node == 3
    assert parse().node_shell is None and parse().limits.restores_per_node == 2


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"felhom:pve": None}, "felhom:pve"),
        ({"felhom:pve": "{not json"}, "felhom:pve"),
        (
            {"felhom:pve": pve(endpoint="http://x:8006", insecureSkipTlsVerify=True)},
            "felhom:pve.endpoint",
        ),
        ({"felhom:pve": pve(node=None, insecureSkipTlsVerify=True)}, "felhom:pve.node"),
        ({"felhom:pve": pve(tokenId="agent", insecureSkipTlsVerify=True)}, "felhom:pve.tokenId"),
        ({"felhom:pve": pve()}, "felhom:pve"),
        ({"felhom:pve": pve(tlsFingerprint=FP, caBundle="/x")}, "felhom:pve"),
        ({"felhom:pve": pve(tlsFingerprint="12:34")}, "felhom:pve.tlsFingerprint"),
        ({"felhom:pveTokenSecret": None}, "felhom:pveTokenSecret"),
        ({"felhom:guestSshPort": "70000"}, "felhom:guestSshPort"),
        (
            {"felhom:nodeShell": '{"host": "h", "hostKey": "k", "privateKeyPath": "/k"}'},
            "felhom:nodeShell.hostKey",
        ),
        ({"felhom:limits": '{"restoresPerNode": 0}'}, "felhom:limits.restoresPerNode"),
        # Endpoints with parts the client would silently ignore are refused.
        *[
            ({"felhom:pve": pve(endpoint=url, insecureSkipTlsVerify=True)}, "felhom:pve.endpoint")
            for url in (
                "https://user:pw@h:8006",
                "https://h:8006/api2/json",
                "https://h:8006?x=1",
                "https://h:8006#frag",
                "https://h:99999",
                "https://h:8006\n",
                "https://bad_host!:8006",
            )
        ],
        ({"felhom:pve": pve(node="pve1\n", insecureSkipTlsVerify=True)}, "felhom:pve.node"),
        (
            {"felhom:pve": pve(tokenId="a@pve!t\n", insecureSkipTlsVerify=True)},
            "felhom:pve.tokenId",
        ),
        ({"felhom:pveTokenSecret": "abc\x00def"}, "felhom:pveTokenSecret"),
        ({"felhom:pveTokenSecret": " \r\n"}, "felhom:pveTokenSecret"),
        *[
            ({"felhom:nodeShell": json.dumps({**SHELL, **bad})}, f"felhom:nodeShell.{key}")
            for key, bad in (
                ("host", {"host": "h\nx"}),
                ("host", {"host": "h x"}),
                ("user", {"user": "Root!"}),
                ("hostKey", {"hostKey": "ssh-ed25519 AAAA"}),
                ("hostKey", {"hostKey": "ssh-dss AAAAB3NzaC1kc3MAAA=="}),
                ("privateKeyPath", {"privateKeyPath": "/k\n"}),
                ("colour", {"colour": "red"}),
            )
        ],
        ({"felhom:limits": '{"httpTimeoutSeconds": 5}'}, "felhom:limits.httpTimeoutSeconds"),
    ],
)
def test_errors_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**overrides)
    assert info.value.field == key
    assert SECRET not in str(info.value)


def test_secret_never_shows() -> None:
    settings = parse()
    for text in (repr(settings), str(settings), f"{settings.pve}", repr(settings.pve.token_secret)):
        assert SECRET not in text
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_a_pasted_secret_loses_its_line_ending() -> None:
    settings = parse(**{"felhom:pveTokenSecret": SECRET + "\r\n"})
    assert settings.pve.token_secret.reveal() == SECRET


def test_endpoint_trailing_slash_is_dropped() -> None:
    settings = parse(
        **{"felhom:pve": pve(endpoint="https://h.example:8006/", insecureSkipTlsVerify=True)}
    )
    assert settings.pve.endpoint == "https://h.example:8006"
