"""The tutorial series beyond the autoencoders, unchanged, on dae.theano (issue 18, item 5).

The fast pieces: rbm.py's CD/PCD training step and its Gibbs sampling chain (draws inside
``theano.scan``, whose updates rbm.py passes on), on a small binary data set, and
``hmc/test_hmc.py`` as the series defines it. The series' own ``test.py`` trains on full
MNIST for minutes a test and runs in CI (``.ci/run``). The tutorial files are read from
``../shared/tutorials`` into a temporary copy (never into the repository); skipped where
they are absent.
"""
import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytest

import dae.theano
from dae.config import get_mode
from dae.theano.streams import next_state

TUTORIALS = Path(__file__).resolve().parents[1].parent / "shared" / "tutorials"


@pytest.fixture
def tutorials(tmp_path, monkeypatch):
    """``import_tutorial(name)``: a module of a copy of the series, imported on dae.theano."""
    if not (TUTORIALS / "rbm.py").is_file():
        pytest.skip(f"the tutorial series is not at {TUTORIALS}")
    code = tmp_path / "code"
    shutil.copytree(TUTORIALS, code)
    dae.theano.install()  # conftest takes theano out of sys.modules again after the test
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.syspath_prepend(str(code / "hmc"))  # as pytest runs hmc/test_hmc.py: its folder first
    monkeypatch.chdir(code)
    before = set(sys.modules)
    yield importlib.import_module
    for name in set(sys.modules) - before:  # the copy's modules go with the copy
        if str(code) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]


def binary_patterns(n_rows, n_visible, seed):
    """Rows of two noisy binary patterns, as float32: data an RBM learns in a few steps."""
    rng = np.random.RandomState(seed)
    base = np.array([np.arange(n_visible) % 2, 1 - np.arange(n_visible) % 2], "float32")
    rows = base[rng.randint(2, size=n_rows)]
    flips = rng.rand(n_rows, n_visible) < 0.05
    return np.where(flips, 1 - rows, rows).astype("float32")


def test_rbm_trains_with_pcd_and_samples_its_chain_unchanged(tutorials):
    # dae's Python mode: the stream semantics are the point here, and a Numba build of the
    # scans costs a minute (CI runs test_rbm itself in the default mode); conftest restores it
    pytensor.config.mode = get_mode("py")
    rbm_module = tutorials("rbm")
    theano, T = rbm_module.theano, rbm_module.T
    n_visible, n_hidden, batch = 16, 8, 10
    data = theano.shared(binary_patterns(60, n_visible, 0))
    index, x = T.lscalar(), T.matrix("x")
    rng = np.random.RandomState(123)
    rbm = rbm_module.RBM(input=x, n_visible=n_visible, n_hidden=n_hidden, numpy_rng=rng,
                         theano_rng=rbm_module.RandomStreams(rng.randint(2 ** 30)))
    chain = theano.shared(np.zeros((batch, n_hidden), "float32"), borrow=True)
    # what test_rbm builds, at k=3: scan's updates carry the Gibbs chain's generators
    cost, updates = rbm.get_cost_updates(lr=0.1, persistent=chain, k=3)
    generators = [v for v in updates if next_state(v) is not None]
    assert generators, "scan returned no stream updates for the draws of its Gibbs steps"
    train = theano.function([index], cost, updates=updates,
                            givens={x: data[index * batch:(index + 1) * batch]})
    W0 = rbm.W.get_value().copy()
    states = [g.get_value().bit_generator.state for g in generators]
    costs = [float(train(i % 6)) for i in range(12)]
    assert np.isfinite(costs).all() and not np.allclose(rbm.W.get_value(), W0)
    assert all(g.get_value().bit_generator.state != s for g, s in zip(generators, states))
    assert set(np.unique(chain.get_value())) <= {0.0, 1.0}
    # test_rbm's sampling chain: a scan of gibbs_vhv over a persistent visible chain
    vis = theano.shared(binary_patterns(2, n_visible, 1))
    outputs, chain_updates = theano.scan(rbm.gibbs_vhv, outputs_info=[None] * 5 + [vis],
                                         n_steps=20, name="gibbs_vhv")
    chain_updates.update({vis: outputs[-1][-1]})
    sample = theano.function([], [outputs[4][-1], outputs[5][-1]], updates=chain_updates)
    (mf1, s1), (mf2, s2) = sample(), sample()
    assert ((0 < mf1) & (mf1 < 1)).all() and set(np.unique(s1)) <= {0.0, 1.0}
    assert not np.array_equal(mf1, mf2)  # the chain moves on between calls


def test_hmc_test_passes_as_the_series_defines_it(tutorials):
    # 1000 burn-in draws, 1000 samples; it asserts the acceptance rate reached its target
    tutorials("test_hmc").test_hmc()
