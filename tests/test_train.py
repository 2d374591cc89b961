"""dae.train: compile_step and fit, the one training loop.

Python mode: what a step computes does not depend on the backend (test_config.py trains
one step in each). The default mode is checked once: dae's Numba mode.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import default_mode, get_mode
from dae.dA import dA
from dae.numba_mode import BlasNumbaLinker
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
    if default_mode() == "numba":  # dae's Numba mode by default (unless DAE_MODE chose another)
        assert isinstance(step.function.maker.linker, BlasNumbaLinker)
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
                        [pt.sum(x), pt.sum(y)], [], "py")
    assert [float(v) for v in step(1)] == [4, 5]
    data_x.set_value(np.full((4, 2), 2, "float32"))
    data_y.set_value(np.arange(4, 8, dtype="float32"))
    assert [float(v) for v in step(1)] == [8, 13]


def test_numpy_arrays_are_data_too():
    x = pt.matrix("x")
    step = compile_step({x: _data(6)}, 4, pt.sum(x), [], "py")
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
        compile_step(data, batch_size, pt.sum(x) + pt.sum(y) * 0, [], "py")


def test_training_matches_the_tutorials_givens_function():
    """compile_step's path (minibatch as an input) trains exactly like train_da(index)."""
    data = pytensor.shared(_data(40))
    runs = []
    for use_step in (True, False):
        da = _dA()
        cost, updates = da.get_cost_updates(0.3, 0.1)
        if use_step:
            run = compile_step({da.x: data}, 10, cost, updates, "py")
        else:
            index = pt.lscalar()
            run = pytensor.function([index], cost, updates=updates, mode=get_mode("py"),
                                    givens={da.x: data[index * 10:(index + 1) * 10]})
        costs = [float(run(i % 4)) for i in range(12)]
        runs.append((costs, [p.get_value() for p in da.params]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


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


# -- Ctrl-C and the history -------------------------------------------------------------------
def test_ctrl_c_stops_fit_after_the_step_and_keeps_the_finished_epochs():
    import signal

    from dae.train import FitInterrupted

    model = _dA()
    cost, updates = model.get_cost_updates(0.0, 0.1)
    step = compile_step({model.x: _data(20)}, 5, cost, updates, get_mode("py"))
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


class _Free:
    """A step whose call costs nothing: what is timed around it is the loop's own work."""

    def __init__(self, n_steps):
        self.n_steps, self.value = n_steps, np.float32(1.5)

    def __call__(self, index):
        return self.value

    def state_variables(self):
        return []


def test_the_loop_adds_next_to_nothing_per_step():
    """Issue 22 item 5: the loop's work per minibatch (a Ctrl-C flag read, an append, a
    comparison) is well under a microsecond, so 50 us a step (5% of a dA step at batch 20)
    is a bound that holds on a loaded machine and fails on a per-step sync, print or write."""
    step = _Free(20000)
    fit(step, step.n_steps, 1)
    seconds = min(_time(lambda: fit(step, step.n_steps, 1)) for _ in range(3))
    assert seconds / step.n_steps < 50e-6, f"{1e6 * seconds / step.n_steps:.1f} us a step"


def _time(f):
    import time

    start = time.perf_counter()
    f()
    return time.perf_counter() - start
