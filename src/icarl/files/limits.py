"""Limits on what an input file may declare, checked before anything that size is allocated.

Every reader of user files (archives, npz/npy headers, gzip streams, image headers, label
sets) compares the size a file declares with these limits, and refuses with one line naming
the file, the limit and the environment variable that raises it when the file is genuine:

=======================  ===============  ==================================================
variable                 default          bounds
=======================  ===============  ==================================================
``ICARL_MAX_CLASSES``    100,000          classes a dataset may have (label values, names)
``ICARL_MAX_PIXELS``     64,000,000       pixels of one image (width x height), from its header
``ICARL_MAX_BYTES``      8 GiB            uncompressed bytes read from one file or archive
``ICARL_MAX_RATIO``      200              uncompressed / compressed size of a member or stream
``ICARL_MAX_MEMBERS``    1,000,000        members of one archive
``ICARL_MAX_ITEMS``      50,000,000       values in a model file, checkpoint or weights file
                                          (a value shared by reference counted at every use;
                                          a string counts one per 64 characters)
``ICARL_MAX_DEPTH``      64               nesting depth of containers in such a file
``ICARL_MAX_STRING``     1,048,576        characters of one string in such a file
=======================  ===============  ==================================================

The ratio applies to members and streams larger than :data:`RATIO_FREE_BYTES` (small ones
cannot exhaust memory whatever their ratio).
"""

from __future__ import annotations

import os

from ..errors import IcarlError

DEFAULTS: dict[str, int] = {
    "ICARL_MAX_CLASSES": 100_000,
    "ICARL_MAX_PIXELS": 64_000_000,
    "ICARL_MAX_BYTES": 8 << 30,
    "ICARL_MAX_RATIO": 200,
    "ICARL_MAX_MEMBERS": 1_000_000,
    "ICARL_MAX_ITEMS": 50_000_000,
    "ICARL_MAX_DEPTH": 64,
    "ICARL_MAX_STRING": 1 << 20,
}
RATIO_FREE_BYTES = 16 << 20  # members below 16 MiB uncompressed are not ratio-checked


class LimitValueError(IcarlError):
    """An ``ICARL_MAX_*`` environment variable that is not a positive integer."""


def limit(name: str) -> int:
    """The limit ``name`` (one of :data:`DEFAULTS`): the environment's value, else the default."""
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise LimitValueError(f"{name} is {os.environ[name]!r}; set it to a positive integer or unset it")
    return value


def refusal(where: str, what: str, name: str) -> str:
    """The one-line message for ``where`` (a file) declaring ``what``, above the limit ``name``."""
    return (
        f"{where}: {what}, above the limit {name}={limit(name)}; refused (if the file is "
        f"genuine, raise the limit: export {name}=N)"
    )


def exceeds(name: str, value: int) -> bool:
    return value > limit(name)


def ratio_exceeded(uncompressed: int, compressed: int) -> bool:
    """Whether a member or stream of ``uncompressed`` bytes stored in ``compressed`` bytes
    expands more than ``ICARL_MAX_RATIO`` (members up to :data:`RATIO_FREE_BYTES` never do)."""
    if uncompressed <= RATIO_FREE_BYTES:
        return False
    return uncompressed > limit("ICARL_MAX_RATIO") * max(compressed, 1)
