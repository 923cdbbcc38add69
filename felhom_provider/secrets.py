"""The one ``Secret`` type and the one mask: how secrets are held and hidden everywhere.

A ``Secret`` never shows its value in ``repr``/``str``/f-strings and refuses to be pickled;
``reveal()`` is the one way to read it, which keeps the places that hand a secret to a client
(the PVE token, a key passphrase, an argument of a node command) easy to find. ``mask`` is
the one function that hides secrets in text (logs, errors, the journal, ``ExecResult``): it
replaces every form a secret takes when text is rendered (as it is, stripped, and escaped by
``repr``, JSON and URL-encoding) with ``MASK``.

A leaf module: it imports nothing of the package, so every layer can use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

#: What a secret is replaced with, in every text and ``repr``.
MASK = "***"
# Shorter "secrets" would mask ordinary words ("1", "on") all over the output.
_MIN_SECRET_LEN = 4


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings.

    ``reveal()`` is the one way to read it. Shells accept a ``Secret`` as a command argument:
    the command line gets the value, every rendering of the command gets ``MASK``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        """The secret value; pass it only to the client that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # Settings must never reach a pickle (the provider's state is pickled into the stack).
        raise TypeError("a Secret must not be pickled")


def reveal(value: str | Secret) -> str:
    """The plain value of a string or a ``Secret`` (for a command line or a client)."""
    return value.reveal() if isinstance(value, Secret) else value


def secret_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may show up in text: as it is, stripped of surrounding
    whitespace, and escaped as ``repr`` (str and bytes), JSON and URL-encoding render it.

    A secret pasted from a file often ends in CR/LF; ``http.client`` then refuses the header
    and its error shows ``b'...secret\\r\\n'``: the stripped form masks that. A secret
    holding a lone surrogate (an undecodable byte from the environment) is escaped, not fatal.
    """
    forms: set[str] = set()
    for raw in {secret, secret.strip()}:
        if not raw:
            continue
        forms |= {
            raw,
            repr(raw)[1:-1],
            json.dumps(raw)[1:-1],
            repr(raw.encode("utf-8", "backslashreplace"))[2:-1],
            # URL-encoding is strict by default and would raise on a lone surrogate.
            quote(raw, safe="", errors="backslashreplace"),
            quote_plus(raw, errors="backslashreplace"),
        }
    return forms


def mask(text: str, secrets: Iterable[str | Secret]) -> str:
    """Replace every form (see ``secret_forms``) of each secret in ``text`` (longest first)
    with ``MASK``.

    Secrets shorter than 4 characters are ignored: masking them would garble the text
    without protecting anything worth a secret.
    """
    forms: set[str] = set()
    for secret in {reveal(s) for s in secrets if s}:
        if len(secret) >= _MIN_SECRET_LEN:
            forms |= secret_forms(secret)
    out = text
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= _MIN_SECRET_LEN:
            out = out.replace(form, MASK)
    return out
