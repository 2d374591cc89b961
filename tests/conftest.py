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


def assert_gradients_match_finite_differences(f, params, x, eps=1e-6):
    """``f(x)`` returns ``[cost, d cost / d p for p in params]``; check each by central differences."""
    analytic = f(x)[1:]
    for param, grad in zip(params, analytic):
        base = param.get_value()
        numeric = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            for sign in (1, -1):
                shifted = base.copy()
                shifted[i] += sign * eps
                param.set_value(shifted)
                numeric[i] += sign * f(x)[0] / (2 * eps)
            param.set_value(base)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7, err_msg=param.name)
        assert np.abs(grad).max() > 1e-6, f"{param.name} gets no gradient"


@pytest.fixture
def check_gradients():
    """:func:`assert_gradients_match_finite_differences`, for any test that asks for it."""
    return assert_gradients_match_finite_differences
