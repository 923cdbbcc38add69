"""RSA host-key material generated ahead of demand, off the request path.

A simulated guest's first boot runs ``ssh-keygen -A``, and PVE's create writes host keys
too; both need a fresh RSA 3072 key. Generating one costs 0.1 to 0.3 s of CPU (OpenSSL looks
for two 1536-bit primes), and it used to happen inside the ``vzstart`` task's completion,
on the scheduler thread that finishes every task, so a fleet of guests booting together
queued behind it.

This pool moves that work to a background thread while the simulator has nothing else to
do, typically during the restore that precedes the boot (a restore takes 20 s of clock time;
a key takes a fraction of a second). OpenSSL releases the GIL while it searches for primes,
so the thread really runs beside request handling on another core.

What stays exactly as before:

* every key is fresh, random and handed out once (``rsa_key`` pops it), so keys are unique
  per guest; when and on which thread the primes were found cannot be observed from the
  outside, neither through the API, nor ``ssh-keygen -l`` in the guest, nor the handshake;
* an empty pool is never waited on: ``rsa_key`` then generates inline, as before.

Sizing: nothing is generated until somebody announces demand with ``expect`` (the guest
hooks do, for each create or restore that takes clock time). The pool fills up to the
number of keys announced and not yet taken, never beyond ``CAPACITY``, so announcements that
are never followed by a boot waste at most ``CAPACITY`` keys' worth of background CPU.
"""

from __future__ import annotations

import collections
import threading

from cryptography.hazmat.primitives.asymmetric import rsa

RSA_BITS = 3072
CAPACITY = 64


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


class RsaKeyPool:
    """Fresh RSA keys made by one background thread, each handed out once."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._ready: collections.deque[rsa.RSAPrivateKey] = collections.deque()
        self._expected = 0  # announced and not yet taken
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.generated_inline = 0  # counters for tests and diagnostics
        self.taken_ready = 0

    def expect(self, count: int = 1) -> None:
        """Announce ``count`` keys that will probably be wanted soon."""
        with self._cond:
            self._expected = min(self.capacity, self._expected + count)
            if self._thread is None:
                # Started on first demand, so processes that never boot a guest pay nothing.
                self._thread = threading.Thread(
                    target=self._fill, name="sim-rsa-keypool", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def take(self) -> rsa.RSAPrivateKey:
        """A fresh key: a ready one if there is one, else one generated right now."""
        with self._cond:
            self._expected = max(0, self._expected - 1)
            if self._ready:
                self.taken_ready += 1
                return self._ready.popleft()
            self.generated_inline += 1
        return _new_key()

    def ready(self) -> int:
        """How many keys are waiting."""
        with self._cond:
            return len(self._ready)

    def _wanted(self) -> bool:
        return len(self._ready) < min(self.capacity, self._expected)

    def _fill(self) -> None:
        while True:
            with self._cond:
                while not self._wanted():
                    self._cond.wait()
            key = _new_key()  # outside the lock: takers never wait for a key in the making
            with self._cond:
                self._ready.append(key)


POOL = RsaKeyPool()


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 3072 key from the process-wide pool (see the module docstring)."""
    return POOL.take()


def expect(count: int = 1) -> None:
    """Announce upcoming demand to the process-wide pool."""
    POOL.expect(count)
