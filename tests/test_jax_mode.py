"""dae's JAX mode (dae/jax_mode.py) runs what the other modes run (issue 22, item 3).

The IWAE step and bound compute what the Python and Numba modes compute, to float32
rounding, given the same noise; the SdA trains in JAX mode, checkpoints and resumes
bit-identical to an uninterrupted JAX run; random streams advance the model's generator
(shared by functions, restored by a checkpoint); the tutorials' ``givens`` minibatch
slice runs through dae.theano and ``compile_step`` with the other modes' numbers.

Other test files run in JAX mode (``DAE_MODE=jax``, which moves the tests that use the
default mode; most tests pin ``py``), 2 shared cores, 2 December 2026, 363 tests:

* tests/test_train.py 19, test_theano.py 18, test_theano_streams.py 14, test_random.py 15,
  test_updates.py 23, test_ctrl_c.py 18, test_config.py 14: 119 passed, 2 failed:
  - test_train.py::test_last_minibatch_is_smaller_and_every_row_is_used asserts that the
    default mode is dae's Numba mode (``BlasNumbaLinker``): expected under ``DAE_MODE=jax``;
  - test_theano_streams.py::test_scan_with_a_stopping_condition_returns_its_draws_too:
    ``NotImplementedError: While Scan cannot yet be converted to JAX``, PyTensor's JAX
    backend has no ``scan(..., until)`` (its outputs' length is known only when it runs,
    which ``jax.jit`` cannot express): a gap left open.
* tests/test_tutorials_series.py 2, test_theano_names.py 8, test_session.py 13,
  test_dA.py 3: 26 passed.
* tests/test_cli.py 23, test_theano_conv.py 150, test_layers.py 7, test_base.py 36: 215
  passed, 1 skipped (test_theano_conv's own skip: JAX needs static convolution shapes).
No failure is a random-stream difference: those tests compare within one mode. Where the
modes are compared (here, tests/test_numbers_fixed.py) JAX's numbers differ from NumPy's
wherever a random stream is drawn: the corruption of the dA, cA and SdA, the VAE's eps and
binarization, the IWAE's samples.
"""
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

jax = pytest.importorskip("jax")

from dae import io  # noqa: E402
from dae.config import get_mode  # noqa: E402
from dae.evaluate import Evaluator  # noqa: E402
from dae.random import RandomStreams  # noqa: E402
from dae.train import compile_step  # noqa: E402
from dae.VAE import VAE  # noqa: E402

from test_experiments import SDA, CtrlC, _records, _same_params, _train, tiny_mnist  # noqa: E402,F401

OTHERS = ["py", "numba"]
JAX_SDA = [f if f != "py" else "jax" for f in SDA]


class FixedNoise:
    """A stand-in for a model's RandomStreams whose normal draws are fixed arrays, so that
    every mode computes from the same eps (JAX draws other numbers than NumPy)."""

    def __init__(self, eps):
        self.eps = pytensor.shared(eps)

    def normal(self, size, dtype=None):
        return self.eps

    def updates(self):
        return []


def _vae(noise=None):
    model = VAE(np.random.default_rng(0), 1, n_visible=12, hidden_layers_sizes=(6,), n_latent=2)
    if noise is not None:
        model.theano_rng = noise
    return model


def _x(n=8):
    return np.random.default_rng(1).random((n, 12), dtype=np.float32)


@pytest.mark.parametrize("other", OTHERS)
def test_iwae_training_step_matches_the_other_modes(other):
    eps = np.random.default_rng(2).standard_normal((8, 5, 2)).astype(np.float32)
    results = {}
    for mode in ("jax", other):
        model = _vae(FixedNoise(eps))
        cost, updates = model.get_cost_updates(1e-2, iwae=5)
        step = compile_step({model.x: _x()}, 8, cost, updates, mode)
        costs = [float(step(0)) for _ in range(3)]
        results[mode] = costs, [np.asarray(p.get_value()) for p in model.params]
    np.testing.assert_allclose(results["jax"][0], results[other][0], rtol=1e-5)
    for a, b in zip(results["jax"][1], results[other][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("other", OTHERS)
def test_iwae_bound_matches_the_other_modes(other):
    x, k = _x(), 7
    eps = np.random.default_rng(3).standard_normal((8, k, 2)).astype(np.float32)
    bounds = {}
    for mode in ("jax", other):
        model, xs = _vae(), pt.matrix("x", dtype="float32")
        bounds[mode] = pytensor.function([xs], model.iwae_bound(xs, k, FixedNoise(eps)),
                                         mode=get_mode(mode))(x)
    assert isinstance(bounds["jax"], np.ndarray)  # NumPy, not a JAX array
    np.testing.assert_allclose(bounds["jax"], bounds[other], rtol=1e-5)


def test_evaluator_nll_in_jax_mode():
    """The test NLL: the same numbers at each call, a short last batch included, close to the
    Python mode's (other samples: JAX's stream)."""
    x = _x(9)
    model = _vae()
    evaluator = Evaluator(model, mode="jax", max_rows=4 * 50)  # batches of 4, 4 and 1
    nll = evaluator.iwae(x, 50)
    assert nll.shape == (9,) and nll.dtype == np.float64
    np.testing.assert_array_equal(evaluator.iwae(x, 50), nll)
    other = Evaluator(model, mode="py").iwae(x, 50)  # other samples: within their noise
    np.testing.assert_allclose(nll, other, atol=0.5)
    assert abs(nll.mean() - other.mean()) < 0.1
    evaluator.iwae(x, 3)  # another k compiles its own function
    np.testing.assert_array_equal(evaluator.iwae(x, 50), nll)


def test_random_streams_advance_the_models_generator():
    """PyTensor's own JAX linker drew from a private copy of the generator."""
    rng = RandomStreams(0)
    draws = [pytensor.function([], rng.uniform((3,)), updates=rng.updates(), mode=get_mode("jax"))
             for _ in range(2)]
    start = rng.get_state()
    first, second = draws[0](), draws[1]()  # one stream: the second function goes on from the first
    assert not np.array_equal(first, second)
    assert rng.get_state() != start
    rng.set_state(start)  # as a checkpoint restores it
    np.testing.assert_array_equal(draws[1](), first)


def test_sda_checkpoints_and_resumes_bit_identically_in_jax_mode(tiny_mnist, tmp_path, capsys,
                                                                 monkeypatch):
    assert _train(capsys, "SdA", tmp_path / "whole", *JAX_SDA)[0] == 0
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        CtrlC(m, at=4 + 2)  # pretraining layer 0 (corrupted by the stream), epoch 1, step 2
        status, _, err = _train(capsys, "SdA", out, *JAX_SDA)
    assert status == 130 and "interrupted in pretrain_0, epoch 1, step 2 of 4" in err
    checkpoint = io.read(out / "checkpoint.npz")
    assert checkpoint.info["training"]["position"] == 2
    with monkeypatch.context() as m:
        CtrlC(m, at=2 + 2 * 4 + 4 + 2)  # then in fine-tuning, epoch 1
        status, _, err = _train(capsys, "SdA", out, "--resume")
    assert status == 130 and "interrupted in finetune, epoch 1, step 2 of 4" in err
    status, stdout, _ = _train(capsys, "SdA", out, "--resume")
    assert status == 0, stdout
    _same_params(tmp_path / "whole" / "best_model.npz", out / "best_model.npz")
    assert _records(tmp_path / "whole") == _records(out)


def test_vae_on_the_iwae_bound_resumes_bit_identically_in_jax_mode(tiny_mnist, tmp_path, capsys,
                                                                  monkeypatch):
    flags = ["--hidden", "6", "--latent", "2", "--epochs", "3", "--iwae", "3", "--k", "5",
             "--batch-size", "10", "--mode", "jax", "--quiet"]
    status, _, err = _train(capsys, "vae", tmp_path / "whole", *flags)
    assert status == 0, err
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        CtrlC(m, at=4 + 3)
        status, _, err = _train(capsys, "vae", out, *flags)
    assert status == 130 and "interrupted in vae, epoch 1, step 3 of 4" in err
    status, stdout, _ = _train(capsys, "vae", out, "--resume")
    assert status == 0, stdout
    _same_params(tmp_path / "whole" / "vae.npz", out / "vae.npz")
    assert _records(tmp_path / "whole") == _records(out)
    whole, cut = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", out))
    assert whole["test_nll"] == cut["test_nll"] and np.isfinite(whole["test_nll"])


# -- the tutorials' givens slice ----------------------------------------------------------------
def _tutorial_step(mode, batch_size=10):
    """logistic_sgd.py's train_model, on 35 examples: the last minibatch has 5."""
    import dae.theano as theano
    import dae.theano.tensor as T

    rng = np.random.default_rng(4)
    train_x = theano.shared(rng.random((35, 6), dtype=np.float32))
    train_y = T.cast(theano.shared(rng.integers(0, 3, 35).astype(np.float32)), "int32")
    W = theano.shared(np.zeros((6, 3), dtype=np.float32))
    x, y, index = T.matrix("x"), T.ivector("y"), T.lscalar("index")
    p_y = T.nnet.softmax(T.dot(x, W))
    cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    train = theano.function([index], cost, updates=[(W, W - 0.5 * T.grad(cost, W))], mode=mode,
                            givens={x: train_x[index * batch_size:(index + 1) * batch_size],
                                    y: train_y[index * batch_size:(index + 1) * batch_size]})
    return train, W


@pytest.mark.parametrize("other", OTHERS)
def test_tutorial_givens_slice_runs_in_jax_mode(other):
    costs, weights = {}, {}
    for mode in ("jax", other):
        train, W = _tutorial_step(get_mode(mode))
        costs[mode] = [float(train(i)) for epoch in range(2) for i in range(4)]
        weights[mode] = np.asarray(W.get_value())
    np.testing.assert_allclose(costs["jax"], costs[other], rtol=1e-5)
    np.testing.assert_allclose(weights["jax"], weights[other], rtol=1e-5, atol=1e-7)


def test_compile_step_takes_the_tutorials_data_in_jax_mode():
    """compile_step's data as the tutorials share them: a shared x and T.cast(shared_y, 'int32')."""
    rng = np.random.default_rng(5)
    xs, ys = rng.random((35, 6), dtype=np.float32), rng.integers(0, 3, 35).astype(np.float32)
    costs = {}
    for mode in ("jax", "py"):
        W = pytensor.shared(np.zeros((6, 3), dtype=np.float32))
        x, y = pt.matrix("x", dtype="float32"), pt.ivector("y")
        cost = -pt.mean(pt.log(pt.special.softmax(pt.dot(x, W), axis=-1))[pt.arange(y.shape[0]), y])
        step = compile_step({x: pytensor.shared(xs), y: pt.cast(pytensor.shared(ys), "int32")}, 10,
                            cost, [(W, W - 0.5 * pytensor.grad(cost, W))], mode)
        costs[mode] = [float(step(i)) for i in range(step.n_steps)]
    np.testing.assert_allclose(costs["jax"], costs["py"], rtol=1e-5)


# -- item 4: a step donates the buffers of the shared variables it replaces --------------------
def _doubling(value):
    w = pytensor.shared(np.asarray(value, dtype="float32"), name="w")
    return w, pytensor.function([], w.sum(), updates=[(w, w * 2)], mode=get_mode("jax"))


def test_a_step_donates_the_buffers_it_replaces_and_copies_are_kept():
    w, step = _doubling(np.ones(4))
    step()
    kept, borrowed = w.get_value(), w.get_value(borrow=True)
    assert float(step()) == 8.0
    assert borrowed.is_deleted()  # its buffer now holds the new value (the borrow contract)
    np.testing.assert_array_equal(np.asarray(kept), 2.0)  # a copy is the model's to keep
    np.testing.assert_array_equal(np.asarray(w.get_value()), 4.0)


def test_one_array_in_two_shared_variables_is_not_donated():
    w, step = _doubling(np.ones(4))
    step()
    other = pytensor.shared(np.zeros(4, dtype="float32"))
    other.container.storage[0] = w.get_value(borrow=True)  # the same JAX array in both
    both = pytensor.function([], (w + other).sum(), updates=[(w, w * 2), (other, other + 1)],
                             mode=get_mode("jax"))
    assert float(both()) == 16.0
    np.testing.assert_array_equal(np.asarray(w.get_value()), 4.0)
    np.testing.assert_array_equal(np.asarray(other.get_value()), 3.0)


class _SignalDuringStep(pytensor.graph.Op):
    """The identity, which sends this process SIGINT while JAX runs it: a Ctrl-C landing
    in the middle of a step."""

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return pytensor.graph.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0]


def _signalling_step():
    import os
    import signal

    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(_SignalDuringStep)
    def _(op, **kwargs):
        def identity(x):
            jax.debug.callback(lambda: os.kill(os.getpid(), signal.SIGINT))
            return x
        return identity

    w = pytensor.shared(np.ones(4, dtype="float32"), name="w")
    return w, pytensor.function([], _SignalDuringStep()(w).sum(), updates=[(w, w * 2)],
                                mode=get_mode("jax"))


def test_a_ctrl_c_during_a_step_is_raised_with_the_model_whole():
    w, step = _signalling_step()
    with pytest.raises(KeyboardInterrupt):
        step()  # Python's own handler: raised once the step's new values are in place
    assert not w.get_value(borrow=True).is_deleted()
    np.testing.assert_array_equal(np.asarray(w.get_value()), 2.0)


def test_a_ctrl_c_during_a_step_of_fit_stops_it_after_that_step():
    from dae.train import FitInterrupted, fit

    w, step = _signalling_step()
    with pytest.raises(FitInterrupted) as stopped:
        fit(lambda i: step(), 3, 1)
    assert stopped.value.steps == 1  # the step ran whole, the next did not start
    np.testing.assert_array_equal(np.asarray(w.get_value()), 2.0)


def test_fit_pipelines_jax_steps_and_ends_where_the_same_steps_one_by_one_end():
    """In fit a JAX-mode step returns before XLA has run it (its cost a JAX array, the key its
    random stream ends with kept in JAX for the next step); when fit returns, the records, the
    parameters and the generator are those of the same steps called one by one outside it."""
    from dae import jax_mode
    from dae.train import fit

    runs = []
    for inside in (False, True):
        model = _vae()
        cost, updates = model.get_cost_updates(1e-2, binarize=True)
        step = compile_step({model.x: _x(40)}, 8, [cost], updates, "jax")
        states = []  # at each epoch's end, as a checkpoint there saves it
        if inside:
            history = fit(step, step.n_steps, 2, on_epoch=lambda r: states.append(
                model.theano_rng.get_state()))
            costs = [r["cost"] for r in history]
        else:
            costs = []
            for _ in range(2):
                costs.append(float(np.mean(np.asarray([step(i) for i in range(step.n_steps)],
                                                      np.float64))))
                states.append(model.theano_rng.get_state())
        runs.append((costs, [np.asarray(p.get_value()) for p in model.params], states))
    (eager_costs, eager_params, eager_states), (costs, params, states) = runs
    assert costs == eager_costs and states == eager_states
    for a, b in zip(params, eager_params):
        np.testing.assert_array_equal(a, b)

    model = _vae()
    cost, updates = model.get_cost_updates(1e-2, binarize=True)
    step = compile_step({model.x: _x(40)}, 8, [cost], updates, "jax")
    before = model.theano_rng.get_state()
    with jax_mode.pipelined():
        with jax_mode.lazy:
            [first] = step(0)
            assert isinstance(first, jax.Array) and model.theano_rng.get_state() == before
            step(1)  # from the key step 0 ended with, still in JAX
        [eager] = step(2)  # outside ``lazy`` (fit's on_epoch): NumPy, as everywhere
        assert isinstance(eager, np.ndarray)
    assert model.theano_rng.get_state() != before  # read back by the eager call, and at the end


def test_a_sum_accumulated_in_float64_compiles_without_jaxs_x64_warning():
    """PyTensor adds float32 in float64; JAX without x64 has no float64 and warned at every
    compile of such a sum (its numbers float32 either way)."""
    import warnings

    x = pt.matrix(dtype="float32")
    enabled = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        f = pytensor.function([x], [x.sum(), x.sum(axis=0)], mode=get_mode("jax"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            total, columns = f(np.full((3, 4), 0.5, "float32"))
    finally:
        jax.config.update("jax_enable_x64", enabled)
    assert total == 6 and total.dtype == np.float32
    np.testing.assert_array_equal(columns, [1.5] * 4)


def test_a_shape_assertion_is_checked_while_jax_traces_without_a_warning():
    """PyTensor's JAX kernel drops a broadcast's shape assertion with a UserWarning at every
    compile (the sA's step printed two such warnings); the shapes are concrete while JAX
    traces, so dae's JAX mode checks it there, and a shape vector is NumPy's, not int64 that
    JAX without x64 refuses with another warning. Here the mean's row count asserts that x and
    y have as many rows: JAX itself would broadcast a one-row y, PyTensor refuses it."""
    import warnings

    from pytensor.raise_op import CheckAndRaise

    x, y, v = pt.matrix(dtype="float32"), pt.matrix(dtype="float32"), pt.vector(dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = pytensor.function([x, y, v], (x * y).mean(axis=0) + v, mode=get_mode("jax"))
        assert any(isinstance(n.op, CheckAndRaise) for n in f.maker.fgraph.apply_nodes)
        ones = np.ones((3, 4), "float32")
        np.testing.assert_array_equal(f(ones, ones * 2, np.arange(4, dtype="float32")), [2, 3, 4, 5])
    with pytest.raises(AssertionError, match="Could not broadcast"):
        f(ones, ones[:1], np.ones(4, "float32"))


def test_integer_arange_argmax_and_shape_vectors_compile_without_a_warning():
    """PyTensor's JAX kernels ask JAX for int64 (refused without x64, a UserWarning at every
    compile: the SdA's validation error printed one an epoch), and its ``arange`` computed
    ``stop - start`` in its constant's dtype (int8 for the 0), which overflowed for 200 rows.
    In dae's JAX mode: NumPy's integers where concrete, the first of equal maxima as NumPy's."""
    import warnings

    x = pt.matrix(dtype="float32")
    rows = pt.arange(0, x.shape[0])
    picked = x[rows, x.argmax(axis=1)]  # each row's maximum, through an integer index
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = pytensor.function([x], [x.argmax(axis=1), x.argmax(axis=None), picked,
                                    rows.sum()], mode=get_mode("jax"))
        data = np.random.default_rng(0).random((200, 7)).astype("float32")
        data[3] = 1.0  # equal maxima: the first
        by_row, overall, best, total = f(data)
    np.testing.assert_array_equal(by_row, data.argmax(axis=1))
    assert by_row[3] == 0 and overall == data.argmax()
    np.testing.assert_array_equal(best, data.max(axis=1))
    assert total == 199 * 200 // 2
