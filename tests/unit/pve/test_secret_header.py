"""A token secret with a trailing CR/LF is refused before any request, without showing it."""

from __future__ import annotations

import pytest

from felhom_provider.errors import FelhomError
from felhom_provider.pve import PveClient, PveEndpoint

CORE = "0123abcd-feed-4e1e-b0b0-c0ffee00dead"


@pytest.mark.parametrize("tail", ["\r\n", "\n", "\x00", "\t"])
def test_control_characters_in_the_secret_never_reach_error_text(tail: str) -> None:
    with pytest.raises((FelhomError, ValueError)) as err:
        endpoint = PveEndpoint(
            url="https://127.0.0.1:1",
            node="pve",
            token_id="felhom@pve!agent",
            token_secret=CORE + tail,
            verify_tls=False,
        )
        PveClient(endpoint).version()
    text = f"{err.value!s} {err.value!r}"
    assert CORE not in text
    assert "secret" in text.lower()  # says what is wrong
