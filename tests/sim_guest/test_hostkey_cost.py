"""Host-key work kept off the request path: the RSA key pool and the parsed-key cache."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization

from felhom_provider.sim.guest import hostkeys, keypool
from felhom_provider.sim.guest.sshbase import load_private_key


def _wait_until(check: Callable[[], bool]) -> None:
    """Poll ``check()`` until true (bounded by a generous limit; not a timing assertion)."""
    pause = threading.Event()
    for _ in range(600):
        if check():
            return
        pause.wait(0.05)
    raise AssertionError("condition never became true")


def _public_blob(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )


def test_pool_generates_only_what_was_announced_and_hands_each_key_out_once() -> None:
    pool = keypool.RsaKeyPool(capacity=2)
    assert pool.ready() == 0  # nothing announced, nothing made
    pool.expect(5)  # capped at the capacity
    _wait_until(lambda: pool.ready() == 2)
    first, second = pool.take(), pool.take()
    assert (pool.taken_ready, pool.generated_inline) == (2, 0)
    assert pool.ready() == 0  # every announced key was taken: the pool stays empty
    third = pool.take()  # empty pool: generated inline, never waited for
    assert pool.generated_inline == 1
    blobs = {_public_blob(k) for k in (first, second, third)}
    assert len(blobs) == 3
    assert all(k.key_size == keypool.RSA_BITS for k in (first, second, third))


def test_generated_keys_are_unique_and_parse_to_the_same_public_key() -> None:
    a = hostkeys.generate("rsa", "root@a")
    b = hostkeys.generate("rsa", "root@b")
    assert a.private_text != b.private_text
    for key in (a, b):
        parsed = load_private_key(key.private_text)
        line = f"{parsed.get_name()} {parsed.get_base64()}"
        assert key.public_line.startswith(line + " ")
        assert hostkeys.public_line_of_private(key.private_text).split()[:2] == line.split()


def test_parsed_keys_are_cached_per_text_and_new_texts_are_parsed_afresh() -> None:
    texts = [hostkeys.generate(t, "root@x").private_text for t in hostkeys.KEY_TYPES]
    first = [load_private_key(t) for t in texts]
    assert [load_private_key(t) for t in texts] == first
    assert all(load_private_key(t) is k for t, k in zip(texts, first, strict=True))
    fresh = hostkeys.generate("ed25519", "root@x").private_text
    assert load_private_key(fresh).get_base64() != first[2].get_base64()


def test_a_key_this_process_did_not_generate_is_still_parsed_and_checked() -> None:
    text = hostkeys.generate("rsa", "root@y").private_text
    hostkeys._recent.pop(text)  # as if read back after a restart: only the text is known
    assert hostkeys.generated_key(text) is None
    assert load_private_key(text).get_bits() == 3072
