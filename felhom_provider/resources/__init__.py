"""The Pulumi dynamic resources: ``FelhomGuest``, ``GoldenImage`` (with their typed args) and
``StackIdentity``.

Provider classes live here, in an installed module without import-time side effects, so
that dill pickles them by reference into state (design §5.1).

The public surface is what this file exports: the resources and their args, plus the input
checks the program runs on stack config before it declares resources (``check_guest``, the
field ``Checker``). Modules starting with ``_`` are private to this package.
"""

from felhom_provider.resources._guest_check import check_guest
from felhom_provider.resources._validate import Checker
from felhom_provider.resources.golden_image import GoldenImage, GoldenImageArgs
from felhom_provider.resources.guest import FelhomGuest, FelhomGuestArgs
from felhom_provider.resources.stack_identity import StackIdentity

__all__ = [
    "Checker",
    "FelhomGuest",
    "FelhomGuestArgs",
    "GoldenImage",
    "GoldenImageArgs",
    "StackIdentity",
    "check_guest",
]
