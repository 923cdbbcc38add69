"""The Pulumi dynamic resources: ``FelhomGuest``, ``GoldenImage`` (with their typed args) and
``StackIdentity``.

Provider classes live here, in an installed module without import-time side effects, so
that dill pickles them by reference into state (design §5.1).
"""

from felhom_provider.resources.golden_image import GoldenImage, GoldenImageArgs
from felhom_provider.resources.guest import FelhomGuest, FelhomGuestArgs
from felhom_provider.resources.stack_identity import StackIdentity

__all__ = [
    "FelhomGuest",
    "FelhomGuestArgs",
    "GoldenImage",
    "GoldenImageArgs",
    "StackIdentity",
]
