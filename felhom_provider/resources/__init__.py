"""The Pulumi dynamic resources: ``FelhomGuest`` and ``GoldenImage``, with their typed args.

Provider classes live here, in an installed module without import-time side effects, so
that dill pickles them by reference into state (design §5.1).
"""

from felhom_provider.resources.golden_image import GoldenImage, GoldenImageArgs
from felhom_provider.resources.guest import FelhomGuest, FelhomGuestArgs

__all__ = ["FelhomGuest", "FelhomGuestArgs", "GoldenImage", "GoldenImageArgs"]
