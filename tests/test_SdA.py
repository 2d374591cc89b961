"""dae.SdA: the stacked denoising autoencoder's structure, pretraining and fine-tuning.

The experiment (``dae train SdA``) is test_experiments.py's; early stopping test_stopping.py's.
"""
import math

import numpy as np
import pytensor
import pytest

from dae.config import get_mode
from dae.data import shared_dataset
from dae.SdA import SdA

MODE = get_mode("py")  # tiny graphs: compiling dominates, and Python mode compiles fastest


def _tiny_sda(rng, layer_type="dA", sizes=(8, 6)):
    return SdA(rng, n_ins=12, hidden_layers_sizes=list(sizes), n_outs=3,
               corruption_levels=[0.1] * len(sizes), layer_type=layer_type)


def _tiny_data(rng, n=30, d=12):
    return pytensor.shared((rng.rand(n, d) > 0.5).astype("float32"))


def test_structure_and_shapes_follow_the_tutorial(rng):
    sda = _tiny_sda(rng)
    shapes = [p.get_value().shape for p in sda.params]
    assert shapes == [(12, 8), (8,), (8, 6), (6,), (6, 3), (3,)]
    assert sda.x.dtype == "float32" and sda.y.dtype == "int32" and sda.y.ndim == 1
    assert [len(sda.sigmoid_layers), len(sda.dA_layers)] == [2, 2]
    for layer, da in zip(sda.sigmoid_layers, sda.dA_layers):
        assert da.W is layer.W and da.b is layer.b
        assert da.b_prime not in sda.params
    assert sda.dA_layers[1].x is sda.sigmoid_layers[0].output
    assert sda.logLayer.input is sda.sigmoid_layers[1].output
    data = np.ones((5, 12), "float32")
    p = pytensor.function([sda.x], sda.logLayer.p_y_given_x, mode=MODE)(data)
    np.testing.assert_allclose(p, 1 / 3, rtol=1e-6)  # zero-initialized logistic layer


def test_pretraining_trains_the_networks_own_weights_one_layer_at_a_time(rng):
    sda = _tiny_sda(rng)
    fns = sda.pretraining_functions(_tiny_data(rng), batch_size=7, mode=MODE)
    assert len(fns) == 2 and fns[0].n_steps == math.ceil(30 / 7)
    before = [p.get_value() for p in sda.params]
    costs = [float(fns[1](i, corruption=0.2, lr=0.5)) for i in range(fns[1].n_steps)]
    after = [p.get_value() for p in sda.params]
    assert np.isfinite(costs).all()
    np.testing.assert_array_equal(after[0], before[0])  # layer 0 only encodes for layer 1
    assert not np.allclose(after[2], before[2]), "pretraining layer 1 must change sigmoid_layers[1].W"
    assert not np.allclose(after[3], before[3])
    fns[0](0)  # the tutorial's defaults: corruption 0.2, lr 0.1
    assert not np.allclose(sda.sigmoid_layers[0].W.get_value(), before[0])


def test_pretraining_lowers_the_reconstruction_cost(rng):
    sda = _tiny_sda(rng, sizes=(6,))
    (f,) = sda.pretraining_functions(_tiny_data(rng), batch_size=10, mode=MODE)
    epochs = [np.mean([f(i, corruption=0.0, lr=0.5) for i in range(f.n_steps)]) for _ in range(30)]
    assert epochs[-1] < 0.9 * epochs[0]


@pytest.mark.parametrize("layer_type", ["cA", "sA"])
def test_stacked_contractive_and_sparse_layers_pretrain_the_same_network(rng, layer_type):
    sda = _tiny_sda(rng, layer_type=layer_type)
    assert type(sda.dA_layers[0]).__name__ == layer_type
    fns = sda.pretraining_functions(_tiny_data(rng), batch_size=10, mode=MODE)
    before = sda.sigmoid_layers[1].W.get_value()
    assert np.isfinite(fns[1](0, corruption=0.1, lr=0.1))
    assert not np.allclose(sda.sigmoid_layers[1].W.get_value(), before)


def _slice(mnist, n_train, n_eval):
    (tx, ty), (vx, vy), (sx, sy) = mnist
    return [shared_dataset(s) for s in ((tx[:n_train], ty[:n_train]), (vx[:n_eval], vy[:n_eval]),
                                         (sx[:n_eval], sy[:n_eval]))]


def test_fine_tuning_lowers_validation_error_on_mnist(mnist):
    datasets = _slice(mnist, 500, 503)  # 503: the last evaluation minibatch is smaller
    sda = SdA(np.random.RandomState(0), n_ins=784, hidden_layers_sizes=[50], n_outs=10,
              corruption_levels=[0.1])
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets, 20, 0.2, mode=MODE, eval_batch_size=100)
    assert train_fn.n_steps == 25 and len(valid_score()) == 6
    before = valid_score.mean(valid_score())
    for _ in range(4):
        costs = [train_fn(i) for i in range(train_fn.n_steps)]
    after = valid_score.mean(valid_score())
    assert np.isfinite(costs).all()
    assert before > 0.8 and after < 0.4, (before, after)
    # Score.mean weighs the smaller last minibatch: the exact error rate
    x = pytensor.shared(mnist[1][0][:503])
    wrong = pytensor.function([], sda.logLayer.y_pred, givens={sda.x: x}, mode=MODE)() != mnist[1][1][:503]
    assert valid_score.mean(valid_score()) == pytest.approx(wrong.mean(), abs=1e-6)


def test_params_round_trip(rng):
    sda = _tiny_sda(rng)
    values = sda.get_weights()
    assert sorted(values) == ["W0", "W1", "W2", "b0", "b1", "b2"]
    other = _tiny_sda(np.random.RandomState(7))
    other.set_weights(values)
    for a, b in zip(sda.params, other.params):
        np.testing.assert_array_equal(a.get_value(), b.get_value())
    with pytest.raises(ValueError, match="W1 has shape"):
        other.set_weights({**values, "W1": np.zeros((2, 2))})


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_layers_sizes=[]), "at least one hidden layer"),
    (dict(corruption_levels=[0.1]), "1 corruption levels for 2 hidden layers"),
    (dict(corruption_levels=[0.1, 1.5]), r"lie in \[0, 1\]"),
    (dict(layer_type="rbm"), "layer_type must be one of"),
])
def test_bad_arguments_raise_clear_errors(rng, kwargs, message):
    args = dict(n_ins=12, hidden_layers_sizes=[8, 6], n_outs=3, corruption_levels=[0.1, 0.1])
    with pytest.raises(ValueError, match=message):
        SdA(rng, **{**args, **kwargs})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        _tiny_sda(rng).pretraining_functions(_tiny_data(rng), 0)


# -- the experiment --------------------------------------------------------------------


def test_training_graphs_stay_float32_in_numba_and_train_as_in_python_mode(compiled_steps):
    """dae's Numba mode: no float64 in the pretraining and fine-tuning steps, and the same
    numbers as Python mode, step for step."""
    model, steps = compiled_steps("SdA", "numba")
    for step in steps:
        dtypes = {getattr(v.type, "dtype", None) for v in step.function.maker.fgraph.variables}
        assert "float64" not in dtypes, step
    py_model, py_steps = compiled_steps("SdA", "py")
    for fast, slow in zip(steps, py_steps):
        args = (0.2, 0.5) if fast is not steps[-1] else ()
        np.testing.assert_allclose([fast(i, *args) for i in range(fast.n_steps)],
                                   [slow(i, *args) for i in range(slow.n_steps)], rtol=1e-5)
    for a, b in zip(model.params, py_model.params):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-5, atol=1e-6)


def test_the_tutorials_call_without_corruption_levels_builds_every_layer(rng):
    """test_SdA in the tutorial builds 3 layers and leaves corruption_levels at its default."""
    sda = SdA(numpy_rng=rng, n_ins=12, hidden_layers_sizes=[6, 5, 4], n_outs=3)
    assert sda.corruption_levels == [0.1, 0.1, 0.1] and len(sda.dA_layers) == 3
