"""A served model that keeps predicting while it learns new classes (``icarl serve``).

Layers inside: :mod:`.payload` (request bodies to images, limits), :mod:`.unknown` (when to
answer "unknown"), :mod:`.store` (the versions on disk), :mod:`.host` (the model and its
prediction thread), :mod:`.worker` and :mod:`.jobs` (learn jobs in their own process),
:mod:`.service` (one server's state), :mod:`.guard`, :mod:`.parse` and :mod:`.app` (HTTP),
:mod:`.server` (uvicorn). Starlette and uvicorn are imported only inside functions: the
package imports without the ``serve`` extra.
"""

from .payload import Limits, RequestError
from .service import Options, Service, open_service
from .store import Store, StoreError
from .unknown import Calibration, UnknownRule, calibrate

__all__ = [
    "Calibration",
    "Limits",
    "Options",
    "RequestError",
    "Service",
    "Store",
    "StoreError",
    "UnknownRule",
    "calibrate",
    "open_service",
]
