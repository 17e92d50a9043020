"""The data formats, one module each; importing one registers it (:mod:`icarl.data.registry`).

Each reads its files safely (:mod:`.guards`, :mod:`.files`, :mod:`.npzfile`: no symbolic
links, no path traversal, declared sizes checked against limits) into uint8 images.
"""

from . import cifar, digits, images, mnist, npz, tinyimagenet

__all__ = ["cifar", "digits", "images", "mnist", "npz", "tinyimagenet"]
