"""compile_step, fit, and the kernels of dae's Numba mode (dae.numba_mode)."""
import itertools
import subprocess
import sys

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import get_mode
from dae.dA import dA
from dae.random import RandomStreams
from dae.train import Diverged, compile_step, fit


def _data(n=25, d=12, seed=0):
    return (np.random.default_rng(seed).random((n, d)) > 0.5).astype("float32")


def _dA(seed=7, d=12, h=5):
    rng = np.random.RandomState(seed)
    return dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=d, n_hidden=h)


# -- compile_step ---------------------------------------------------------------------------
def test_last_minibatch_is_smaller_and_every_row_is_used():
    x = pt.matrix("x")
    step = compile_step({x: pytensor.shared(_data(25))}, 10, [pt.sum(x), x.shape[0]], [])
    assert step.n_steps == 3
    sums = [float(step(i)[0]) for i in range(3)]
    assert [int(step(i)[1]) for i in range(3)] == [10, 10, 5]
    assert sum(sums) == pytest.approx(_data(25).sum())
    with pytest.raises(IndexError, match="0 to 2"):
        step(3)


def test_step_reads_the_shared_data_and_expressions_of_it_when_called():
    x, y = pt.matrix("x"), pt.ivector("y")
    data_x = pytensor.shared(np.ones((4, 2), "float32"))
    data_y = pytensor.shared(np.arange(4, dtype="float32"))
    step = compile_step({x: data_x, y: pt.cast(data_y, "int32")}, 2,
                        [pt.sum(x), pt.sum(y)], [])
    assert [float(v) for v in step(1)] == [4, 5]
    data_x.set_value(np.full((4, 2), 2, "float32"))
    data_y.set_value(np.arange(4, 8, dtype="float32"))
    assert [float(v) for v in step(1)] == [8, 13]


def test_numpy_arrays_are_data_too():
    x = pt.matrix("x")
    step = compile_step({x: _data(6)}, 4, pt.sum(x), [])
    assert float(step(1)) == _data(6)[4:].sum()


@pytest.mark.parametrize("data, batch_size, match", [
    ({}, 10, "non-empty dict"),
    (None, 10, "non-empty dict"),
    ("x", 0, "batch_size"),
    ("x", 2.5, "batch_size"),
    ("float64", 10, "float64"),
    ("rows", 10, "different numbers of rows"),
    ("empty", 10, "no rows"),
    ("symbolic", 10, "symbolic inputs"),
    ("fixed batch", 10, "fixes the minibatch size to 10"),
    ("fixed width", 10, "fixes axis 1 to 13"),
])
def test_bad_arguments_say_what_was_expected(data, batch_size, match):
    x, y = pt.matrix("x"), pt.matrix("y")
    cases = {
        "x": {x: pytensor.shared(_data())},
        "float64": {x: pytensor.shared(_data().astype("float64"))},
        "rows": {x: pytensor.shared(_data(25)), y: pytensor.shared(_data(24))},
        "empty": {x: pytensor.shared(_data(0))},
        "symbolic": {x: pt.matrix("other") * 2},
        "fixed batch": {pt.matrix("x", shape=(10, 12)): pytensor.shared(_data(25))},
        "fixed width": {pt.matrix("x", shape=(None, 13)): pytensor.shared(_data(25))},
    }
    data = cases.get(data, data) if isinstance(data, str) else data
    with pytest.raises(ValueError, match=match):
        compile_step(data, batch_size, pt.sum(x) + pt.sum(y) * 0, [])


def test_training_matches_the_tutorials_givens_function():
    """compile_step's path (minibatch as an input) trains exactly like train_da(index)."""
    data = pytensor.shared(_data(40))
    runs = []
    for use_step in (True, False):
        da = _dA()
        cost, updates = da.get_cost_updates(0.3, 0.1)
        if use_step:
            run = compile_step({da.x: data}, 10, cost, updates)
        else:
            index = pt.lscalar()
            run = pytensor.function([index], cost, updates=updates,
                                    givens={da.x: data[index * 10:(index + 1) * 10]})
        costs = [float(run(i % 4)) for i in range(12)]
        runs.append((costs, [p.get_value() for p in da.params]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_daes_numba_mode_trains_like_pytensors_own():
    """Same seed, same steps: dae's kernels (BLAS, sigmoid, softplus) agree with PyTensor's."""
    data = pytensor.shared(_data(60, 30))
    params = {}
    for mode in ("numba", "plain_numba"):
        da = _dA(d=30, h=7)
        cost, updates = da.get_cost_updates(0.3, 0.1)
        step = compile_step({da.x: data}, 7, cost, updates, mode)  # last minibatch: 4 rows
        fit(step, step.n_steps, 3)
        params[mode] = [p.get_value() for p in da.params]
    for a, b in zip(params["numba"], params["plain_numba"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_dA_step_uses_the_fast_kernels():
    """The SGD update is two in-place gemms on W; sigmoid and softplus are dae's."""
    da = _dA(d=30, h=7)
    cost, updates = da.get_cost_updates(0.3, 0.1)
    step = compile_step({da.x: pytensor.shared(_data(20, 30))}, 10, cost, updates)
    ops = [str(node.op) for node in step.function.maker.fgraph.toposort()]
    assert ops.count("Gemm{inplace}") == 2, ops
    assert not any("sigmoid" in op or "softplus" in op for op in ops), ops
    assert any("exp_neg_abs" in op for op in ops), ops


# -- fit ------------------------------------------------------------------------------------
def test_fit_records_means_and_reports_each_epoch():
    seen, wrapped = [], []

    def progress(batches, epoch):
        wrapped.append(epoch)
        return batches

    history = fit(lambda i: [i, 2 * i], 4, 3, names=("a", "b"), start_epoch=1,
                  on_epoch=seen.append, progress=progress)
    assert [r["epoch"] for r in history] == [1, 2] == wrapped
    assert history[0]["a"] == 1.5 and history[0]["b"] == 3.0 and history[0]["seconds"] >= 0
    assert seen == history


def test_fit_raises_diverged_and_keeps_earlier_epochs():
    seen = []
    with pytest.raises(Diverged, match="cost became nan in epoch 1"):
        fit(lambda i: np.nan if len(seen) == 1 else 1.0, 3, 5, on_epoch=seen.append)
    assert len(seen) == 1


# -- dae's Numba mode -------------------------------------------------------------------------
def test_mode_names():
    numba_mode = get_mode("numba")
    assert type(numba_mode.linker).__name__ == "BlasNumbaLinker"
    assert get_mode("plain_numba") == "NUMBA"
    assert get_mode("c") == "CVM"  # PyTensor's FAST_RUN would be Numba again
    with pytest.raises(ValueError, match="unknown compile mode"):
        get_mode("fortran")


def test_import_dae_does_not_import_numba():
    code = "import sys, dae; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _layouts(a):
    """``a``'s values as C, Fortran, column-strided and negatively strided arrays."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    wide[:, ::2] = a
    return [np.ascontiguousarray(a), np.asfortranarray(a), wide[:, ::2], a[::-1].copy()[::-1]]


def test_gemm_kernel_handles_every_layout_shape_and_scale():
    from dae._numba_kernels import gemm_into

    # One signature, arrays of any layout: the kernel reads the strides at run time.
    @numba.njit("void(float32, float32[:, :], float32[:, :], float32, float32[:, ::1])")
    def call(alpha, x, y, beta, out):
        gemm_into(alpha, x, y, beta, out)

    rng = np.random.default_rng(0)
    for m, k, n in itertools.product([0, 1, 3], [0, 1, 4], [1, 5]):
        a = rng.standard_normal((m, k)).astype("float32")
        b = rng.standard_normal((k, n)).astype("float32")
        for x, y in itertools.product(_layouts(a), _layouts(b)):
            for alpha, beta in [(1, 0), (-0.5, 1), (2, 0.5)]:
                out = rng.standard_normal((m, n)).astype("float32")
                expected = alpha * (a @ b) + beta * out
                if beta == 0:
                    out[...] = np.nan  # BLAS's beta = 0 ignores out, NaN included
                call(np.float32(alpha), x, y, np.float32(beta), out)
                np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5,
                                           err_msg=f"{(m, k, n)} {x.strides} {y.strides}")


def test_products_of_transposes_slices_and_vectors_match_python_mode():
    a, b = pt.matrix("a"), pt.matrix("b")
    v = pt.vector("v")
    outputs = [pt.dot(a, b.T), pt.dot(a.T[:, ::2], b[::2]) * 3.0, pt.dot(a, v), pt.dot(v, b.T),
               1.5 * a + pt.dot(a, b.T[:, :4]) * 0.5, pt.outer(v, v)]
    inputs = [a, b, v]
    rng = np.random.default_rng(1)
    values = [rng.standard_normal((6, 4)).astype("float32"),
              rng.standard_normal((6, 4)).astype("float32"),
              rng.standard_normal(4).astype("float32")]
    fast = pytensor.function(inputs, outputs, mode=get_mode("numba"))(*values)
    slow = pytensor.function(inputs, outputs, mode="FAST_COMPILE")(*values)
    for f, s in zip(fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-5, atol=1e-5)


def test_sigmoid_and_softplus_are_exact_for_every_float32():
    x = pt.vector("x")
    f = pytensor.function([x], [pt.sigmoid(x), pt.softplus(x)], mode=get_mode("numba"))
    values = np.concatenate([np.linspace(-120, 120, 200001), [0, -0.0, 1e-30, -1e-30, 88.7, -88.7,
                                                               -103.9, 1e4, -1e4]]).astype("float32")
    sigmoid, softplus = f(values)
    exact = values.astype("float64")
    expected_sigmoid = np.exp(-np.logaddexp(0, -exact))
    expected_softplus = np.logaddexp(0, exact)
    for got, want in ((sigmoid, expected_sigmoid), (softplus, expected_softplus)):
        assert got.dtype == np.float32
        normal = np.abs(want) > np.finfo(np.float32).tiny
        ulps = np.abs(got[normal] - want[normal]) / np.spacing(np.abs(want[normal]).astype("float32"))
        assert ulps.max() <= 4, ulps.max()
        assert np.all(np.abs(got[~normal] - want[~normal]) <= np.finfo(np.float32).tiny)
    special = f(np.array([np.inf, -np.inf, np.nan], "float32"))
    np.testing.assert_array_equal(special[0], [1, 0, np.nan])
    np.testing.assert_array_equal(special[1], [np.inf, 0, np.nan])


# -- Ctrl-C and the history -------------------------------------------------------------------
def test_ctrl_c_stops_fit_after_the_step_and_keeps_the_finished_epochs():
    import signal

    from dae.train import FitInterrupted

    model = _dA()
    cost, updates = model.get_cost_updates(0.0, 0.1)
    step = compile_step({model.x: _data(20)}, 5, cost, updates, "FAST_COMPILE")
    calls = []

    def pressed_in_epoch_1(i):
        calls.append(i)
        if len(calls) == step.n_steps + 2:
            signal.raise_signal(signal.SIGINT)  # the stop button, during this step
        return step(i)

    with pytest.raises(FitInterrupted, match="epoch 1 after step 2 of 4") as stopped:
        fit(pressed_in_epoch_1, step.n_steps, 5)
    assert len(calls) == step.n_steps + 2  # the step it was pressed in ran to its end
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert [r["epoch"] for r in stopped.value.history] == [0] and stopped.value.steps == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    after = fit(step, step.n_steps, 1)  # the model trains on
    assert np.isfinite(after[0]["cost"]) and all(np.isfinite(p.get_value()).all() for p in model.params)


def test_a_second_ctrl_c_stops_at_once_and_a_callers_handler_is_left_alone():
    import signal

    def pressed_twice(i):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        return 1.0

    with pytest.raises(KeyboardInterrupt) as stopped:
        fit(pressed_twice, 3, 2)
    assert type(stopped.value) is KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        history = fit(lambda i: signal.raise_signal(signal.SIGINT) or 1.0, 3, 2)
        assert len(history) == 2 and len(seen) == 6  # the caller's handler got every press
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_fit_returns_a_history_whose_repr_sums_it_up():
    from dae.train import History

    history = fit(lambda i: [2.0, 0.5], 2, 3, names=("cost", "kl"))
    assert isinstance(history, History) and isinstance(history, list) and len(history) == 3
    assert repr(history).startswith("History(3 epochs; last epoch 2: cost 2, kl 0.5; ")
    staged = History([{"stage": "corruption_0", "epoch": 0, "cost": 62.44, "seconds": 2.0},
                      {"stage": "corruption_30", "epoch": 0, "cost": 81.07, "seconds": 3.0},
                      {"stage": "corruption_30", "epoch": 1, "cost": 64.78, "seconds": 3.5}])
    assert repr(staged) == ("History(3 epochs: corruption_0 1, corruption_30 2; last corruption_30 "
                            "epoch 1: cost 64.78; 8.5 s)")
    assert repr(History()) == "History([])"
