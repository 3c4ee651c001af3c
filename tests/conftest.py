import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The suite runs on two workers of a two-core machine; one thread each avoids
    # oversubscription (and makes CPU float results reproducible run to run).
    torch.set_num_threads(1)
