"""The forms a secret is masked in, exactly, and the order they are replaced in; a secret
refuses pickling (mutation-testing gaps)."""

from __future__ import annotations

import pickle

import pytest

from felhom_provider.secrets import Secret, mask, secret_forms


def test_a_secret_refuses_to_be_pickled() -> None:
    with pytest.raises(TypeError, match=r"^a Secret must not be pickled$"):
        pickle.dumps(Secret("hunter2-secret"))


@pytest.mark.parametrize(
    ("secret", "forms"),
    [
        # nothing to escape: the one form, no slice of it
        ("abcd", {"abcd"}),
        # surrounding whitespace: the forms of the secret as it is and of the stripped one
        (
            " ab'c\n",
            {" ab'c\n", " ab'c\\n", "%20ab%27c%0A", "+ab%27c%0A", "ab'c", "ab%27c"},
        ),
        # non-ASCII: repr keeps it, JSON, bytes and URLs escape it each their own way
        (
            "pässwörd",
            {
                "pässwörd",
                "p\\u00e4ssw\\u00f6rd",
                "p\\xc3\\xa4ssw\\xc3\\xb6rd",
                "p%C3%A4ssw%C3%B6rd",
            },
        ),
        (
            "a b/c+d",
            {"a b/c+d", "a%20b%2Fc%2Bd", "a+b%2Fc%2Bd"},
        ),
        # a lone surrogate (an undecodable byte from the environment) is escaped, not fatal
        ("ab\udcffcd", {"ab\udcffcd", "ab\\udcffcd", "ab\\\\udcffcd", "ab%5Cudcffcd"}),
    ],
)
def test_secret_forms(secret: str, forms: set[str]) -> None:
    assert secret_forms(secret) == forms


def test_the_longest_form_is_replaced_first() -> None:
    # Replacing the stripped "abcd" first would leave the space and newline around the mask.
    assert mask("x abcd\ny", [" abcd\n"]) == "x***y"
    assert mask("id=a%20b%2Fc%2Bd;", ["a b/c+d"]) == "id=***;"


def test_a_surrogate_secret_is_masked_in_its_bytes_form() -> None:
    secret = "ab\udcffcd"
    text = f"header {secret.encode('utf-8', 'backslashreplace')!r} refused"
    assert mask(text, [Secret(secret)]) == "header b'***' refused"
