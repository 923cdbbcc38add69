"""``LiveRuntime.mask`` itself (not a fake): every form of the token secret is hidden."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from felhom_provider.errors import FelhomError
from felhom_provider.resources._runtime import LiveRuntime, RuntimeHolder, scrubbed
from felhom_provider.secrets import MASK
from tests.unit.resources._fakes import SECRET, config

ODD = 'se"cr\\et/+ é%x'  # quotes, backslash, slash, plus, non-ASCII, percent


def live(secret: str = SECRET) -> LiveRuntime:
    holder = RuntimeHolder()
    holder.configure(config(**{"felhom:pveTokenSecret": secret}).get)
    runtime = holder.get()
    assert isinstance(runtime, LiveRuntime)
    return runtime


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        repr(SECRET),
        json.dumps(ODD)[1:-1],
        repr(ODD)[1:-1],
        repr(ODD.encode())[2:-1],
        quote(ODD, safe=""),
        quote_plus(ODD),
        ODD,
    ],
)
def test_live_mask_hides_every_form(form: str) -> None:
    runtime = live(ODD if form != SECRET and form != repr(SECRET) else SECRET)
    text = f"PVE said: token {form} refused"
    masked = runtime.mask(text)
    assert MASK in masked and "refused" in masked and masked.startswith("PVE said: token ")
    for leak in (SECRET, ODD, "cr\\et", "cr%5Cet"):
        assert leak not in masked


def test_live_mask_leaves_other_text_alone() -> None:
    runtime = live()
    assert runtime.mask("nothing secret here") == "nothing secret here"


def test_secret_with_trailing_crlf_never_shows_in_error_text() -> None:
    core = "0123abcd-feed-4e1e-b0b0-c0ffee00dead"
    runtime = live(core + "\r\n")
    header_error = f"Invalid header value b'PVEAPIToken=felhom@pve!agent={core}\\r\\n'"
    with pytest.raises(FelhomError) as err, scrubbed(runtime):
        raise ValueError(header_error)
    assert core not in str(err.value) and MASK in str(err.value)
