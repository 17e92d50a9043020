import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# a fixed thread count for in-process and child `icarl` commands: the command line's policy
# would follow the machine's load, and runs compared for equality must use the same count
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture(scope="session")
def digits():
    from icarl import load_dataset

    return load_dataset("digits")
