"""Networks: the backbone protocol, the registry of backbones, the incremental network.

A backbone is an ``nn.Module`` with ``forward_features(x) -> (N, out_dim)`` and an
``out_dim`` attribute (:class:`Backbone`). Its factory takes ``in_channels`` and ``image_size``.
"""

from . import resnet, small  # noqa: F401  (each registers its backbones)
from .adapt import adapt, build_backbone, object_spec
from .incremental import IncrementalNet, init_like_lasagne, use_lasagne_batchnorm
from .protocol import Backbone, as_backbone
from .registry import available, create_backbone, register

__all__ = [
    "Backbone",
    "IncrementalNet",
    "adapt",
    "as_backbone",
    "available",
    "build_backbone",
    "create_backbone",
    "init_like_lasagne",
    "object_spec",
    "register",
    "use_lasagne_batchnorm",
]
