"""The package version and the versions of what a run or a model file was made with."""

from __future__ import annotations

import platform

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    import numpy as np  # here: the command line parses without numpy and torch (icarl.cli.args)
    import torch  # here: importing the package must not load torch (see icarl.threads)

    return {
        "icarl": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
