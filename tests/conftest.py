import os

import pytest
import torch
from heavy_tests import HEAVY

# one thread count for in-process and child `icarl` commands (OMP_NUM_THREADS where the
# caller set it, as for parallel test workers, else up to 2): runs compared for equality
# must use the same count, whatever the machine's CPU count
_env = os.environ.get("OMP_NUM_THREADS", "").strip()
torch.set_num_threads(int(_env) if _env.isdigit() and int(_env) > 0 else max(1, min(2, os.cpu_count() or 1)))
os.environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())


@pytest.fixture(scope="session")
def digits():
    from icarl import load_dataset

    return load_dataset("digits")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``quick``: every test neither slow nor listed in tests/heavy_tests.py."""
    for item in items:
        name = getattr(item, "originalname", item.name)
        if item.get_closest_marker("slow") is None and name not in HEAVY.get(item.path.name, ()):
            item.add_marker(pytest.mark.quick)
