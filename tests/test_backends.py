"""The same dA compiles and trains in every PyTensor backend dae offers, in float32.

numba (dae's mode, the default), plain_numba (PyTensor's own), c (PyTensor's C
backend; slow without BLAS, so the model is tiny), py, and jax (skipped when JAX
is not installed: ``pip install -e .[test]`` brings it).
"""
import importlib.util
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.dA import dA
from dae.random import RandomStreams
from dae.train import compile_step, fit

HAS_JAX = importlib.util.find_spec("jax") is not None
MODES = ["numba", "plain_numba", "c", "py",
         pytest.param("jax", marks=pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed "
                                                                         "(pip install jax)"))]


def _tiny_dA():
    rng = np.random.RandomState(3)
    return dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=16, n_hidden=6)


def _data():
    # Two repeated patterns: a cost that falls in a few epochs.
    rows = np.tile(np.eye(2, 16, dtype="float32") + np.eye(2, 16, 8, dtype="float32"), (24, 1))
    return pytensor.shared(rows)


@pytest.fixture(autouse=True)
def _quiet_backends():
    with warnings.catch_warnings():
        # PyTensor's JAX linker copies random generators and truncates float64
        # accumulators to float32 (no x64 in JAX): both expected, both warn.
        warnings.filterwarnings("ignore", message=".*RandomType SharedVariables.*")
        warnings.filterwarnings("ignore", message=".*float64.*not available.*")
        # The C backend without BLAS: expected here (see dae.config).
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        yield


@pytest.mark.parametrize("mode", MODES)
def test_dA_trains_and_stays_float32(mode):
    da = _tiny_dA()
    cost, updates = da.get_cost_updates(corruption_level=0.2, learning_rate=0.5)
    step = compile_step({da.x: _data()}, 10, cost, updates, mode)  # last minibatch: 8 rows
    costs = [r["cost"] for r in fit(step, step.n_steps, 6)]
    assert costs[-1] < 0.8 * costs[0], costs
    assert all(p.get_value().dtype == np.float32 for p in da.params)


@pytest.mark.parametrize("mode", MODES)
def test_each_step_draws_a_fresh_mask(mode):
    da = _tiny_dA()
    corrupted = pt.sum(da.get_corrupted_input(da.x, 0.5) * np.arange(16, dtype="float32"))
    step = compile_step({da.x: pytensor.shared(np.ones((4, 16), "float32"))}, 4,
                        corrupted, da.theano_rng.updates(), mode)
    draws = {float(step(0)) for _ in range(4)}
    assert len(draws) > 1, draws
