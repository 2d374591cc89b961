import os
from pathlib import Path

import numpy as np
import pytest

import dae  # noqa: F401  (sets floatX=float32 and the compile mode)

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def mnist_dir():
    """MNIST's folder if present: $DAE_DATA_DIR, else ../shared/data/mnist."""
    for candidate in (os.environ.get("DAE_DATA_DIR"), SHARED_MNIST):
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist():
    """MNIST as NumPy arrays ``[(x, y), (x, y), (x, y)]``; skips when absent."""
    where = mnist_dir()
    if where is None:
        pytest.skip("MNIST not found: set DAE_DATA_DIR to the folder of the four IDX files")
    from dae.data import load_mnist
    return load_mnist(where)


@pytest.fixture
def rng():
    return np.random.RandomState(1234)
