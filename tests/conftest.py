import os

os.environ.setdefault("MPLBACKEND", "Agg")
# one BLAS / torch intra-op thread: the tests' tensors are small, and on a shared 2-core machine two
# spinning threads per process make them many times slower (numba's threads are set per test)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when no CUDA device is present (torch is imported only then)."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    try:
        import torch

        if torch.cuda.is_available():
            return
    except ImportError:
        pass
    import pytest

    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu:
        item.add_marker(skip)
