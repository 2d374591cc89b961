import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytensor
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


def _theano_modules():
    return {k: v for k, v in sys.modules.items() if k == "theano" or k.startswith("theano.")}


@pytest.fixture(autouse=True)
def no_state_crosses_a_test():
    """Put back what dae (or a test) may change process-wide: PyTensor's default mode and
    floatX, the SIGINT/SIGTERM handlers a Session installs, and the ``theano`` entries of
    sys.modules and sys.meta_path that dae.theano.install adds. Without it a file's tests
    would run in whatever mode the file before it left (they once ran in Python mode after
    test_SdA.py and in Numba mode alone).

    Each test starts with Python's own SIGINT handler, whatever pytest was started under: a
    shell runs a background job (``pytest &``, nohup) with SIGINT ignored, which Python and
    dae's Ctrl-C handling then respect, and the Ctrl-C tests would fail for that alone."""
    mode, floatx = pytensor.config.mode, pytensor.config.floatX
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    modules, meta_path = _theano_modules(), list(sys.meta_path)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    pytensor.config.mode = mode
    pytensor.config.floatX = floatx
    for s, handler in handlers.items():
        if signal.getsignal(s) is not handler:
            signal.signal(s, handler)
    for name in set(_theano_modules()) - set(modules):
        del sys.modules[name]
    sys.modules.update(modules)
    sys.meta_path[:] = meta_path


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


# -- compiled steps, shared ---------------------------------------------------------------------
# Compiling dominates this suite's time (a cold Numba build of a new graph costs seconds), so
# each model's training step is built once per compile mode and shared by every test that
# needs it: the "no float64 in the graph" checks, the kernel checks of dae's Numba mode and
# the one step per backend of test_config.py. Tiny models on two repeated 16-pixel patterns,
# so a cost falls within a few epochs.
PATTERNS = np.tile(np.eye(2, 16, dtype="float32") + np.eye(2, 16, 8, dtype="float32"), (24, 1))
LABELS = np.tile(np.arange(2, dtype="int32"), 24)
BATCH = 10  # 48 rows: the last minibatch has 8


def _streams(seed):
    from dae.random import RandomStreams
    rng = np.random.RandomState(seed)
    return rng, RandomStreams(rng.randint(2**30))


def _autoencoder_step(cls, mode, **penalty):
    """An autoencoder's step returning [cost, a signature of its corrupted input]."""
    import pytensor.tensor as pt
    from dae.train import compile_step
    rng, streams = _streams(3)
    model = cls(rng, theano_rng=streams, n_visible=16, n_hidden=6, corruption="mask")
    # get_cost's graph written out so the corrupted input is an output too: a backend that
    # reuses its random state would repeat it.
    x_tilde = model.get_corrupted_input(model.x, 0.3)
    hidden = model.get_hidden_values(x_tilde)
    cost = pt.mean(model.reconstruction_loss(model.x, hidden)) + model.penalty(model.x, hidden, **penalty)
    signature = pt.sum(x_tilde * np.arange(16, dtype="float32"))
    step = compile_step({model.x: pytensor.shared(PATTERNS)}, BATCH, [cost, signature],
                        model.updates_for(cost, 0.1), mode)
    return model, [step]


def _sda_steps(mode):
    from dae.data import shared_dataset
    from dae.SdA import SdA
    rng, _ = _streams(4)
    model = SdA(rng, n_ins=16, hidden_layers_sizes=[8, 6], n_outs=2, corruption_levels=[0.1, 0.2])
    split = shared_dataset((PATTERNS, LABELS))
    steps = model.pretraining_functions(split[0], BATCH, mode=mode)
    steps.append(model.build_finetune_functions([split] * 3, BATCH, 0.5, mode=mode)[0])
    return model, steps


def _vae_step(mode):
    from dae.train import compile_step
    from dae.VAE import VAE
    rng, streams = _streams(5)
    model = VAE(rng, theano_rng=streams, n_visible=16, hidden_layers_sizes=[8], n_latent=2)
    cost, updates = model.get_cost_updates(0.01, binarize=True)
    return model, [compile_step({model.x: pytensor.shared(PATTERNS)}, BATCH, cost, updates, mode)]


def _build(name, mode):
    from dae.cA import cA
    from dae.dA import dA
    from dae.sA import sA
    builders = {"dA": lambda: _autoencoder_step(dA, mode),
                "cA": lambda: _autoencoder_step(cA, mode, contraction_level=0.1),
                "sA": lambda: _autoencoder_step(sA, mode),
                "SdA": lambda: _sda_steps(mode),
                "VAE": lambda: _vae_step(mode)}
    return builders[name]()


@pytest.fixture(scope="session")
def compiled_steps():
    """``compiled_steps(name, mode)``: ``(model, [step, ...])`` for name in dA, cA, sA, SdA, VAE,
    compiled once per session and handed out as new: every shared variable the steps use
    (parameters, random state, an update rule's state) is put back to its first value at
    each call. The SdA's steps are its two pretraining steps and its fine-tuning step."""
    import copy
    built = {}

    def get(name, mode="numba"):
        if (name, mode) not in built:
            model, steps = _build(name, mode)
            shared = {v for step in steps for v in step.function.get_shared()}
            built[name, mode] = model, steps, {v: copy.deepcopy(v.get_value()) for v in shared}
        model, steps, start = built[name, mode]
        for var, value in start.items():
            var.set_value(copy.deepcopy(value))
        return model, steps
    return get


def _tutorial_draws(seed, n_visible, n_hidden, stream_first):
    """The deeplearning.net tutorials' draws from ``RandomState(seed)``, in NumPy: ``(stream
    seed, W)``. Their dA seeds its RandomStreams with ``rng.randint(2 ** 30)`` and then draws
    W; their cA has no stream and draws W first (dae seeds the stream after it)."""
    rng = np.random.RandomState(seed)
    stream = rng.randint(2**30) if stream_first else None
    bound = 4 * np.sqrt(6. / (n_hidden + n_visible))
    W = np.asarray(rng.uniform(low=-bound, high=bound, size=(n_visible, n_hidden)), dtype="float32")
    return (stream if stream_first else rng.randint(2**30)), W


def _low_rank_data(n=200, d=12, rank=3, seed=0):
    """Points near a rank-3 affine subspace of R^12, with distinct variances along it."""
    gen = np.random.default_rng(seed)
    basis = np.linalg.qr(gen.standard_normal((d, rank)))[0]
    x = (gen.standard_normal((n, rank)) * [3.0, 2.0, 1.0]) @ basis.T
    return x + 0.05 * gen.standard_normal((n, d)) + gen.random(d)


@pytest.fixture
def low_rank_data():
    """:func:`_low_rank_data`: data whose principal subspace is known, for L-BFGS and PCA."""
    return _low_rank_data


@pytest.fixture
def tutorial_draws():
    """:func:`_tutorial_draws`, for the tests of each model's constructor."""
    return _tutorial_draws
