import math
import subprocess
import sys

import numpy as np
import pytensor
import pytest

from dae.cli import script_main
from dae.data import shared_dataset
from dae.SdA import SdA
from dae.stopping import EarlyStopping

MODE = "FAST_COMPILE"  # tiny graphs: compiling dominates, and Python mode compiles fastest


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
    values = sda.get_params()
    assert sorted(values) == ["W0", "W1", "W2", "b0", "b1", "b2"]
    other = _tiny_sda(np.random.RandomState(7))
    other.set_params(values)
    for a, b in zip(sda.params, other.params):
        np.testing.assert_array_equal(a.get_value(), b.get_value())
    with pytest.raises(ValueError, match="W1 has shape"):
        other.set_params({**values, "W1": np.zeros((2, 2))})


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


# -- early stopping -----------------------------------------------------------------
def tutorial_loop(errors, n_train_batches, patience):
    """The tutorial's fine-tuning loop, transcribed; returns (validated epochs, best error, best epoch)."""
    patience_increase, improvement_threshold = 2.0, 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best, best_epoch, validated, epoch = np.inf, None, [], 0
    while epoch < len(errors):
        epoch += 1
        for minibatch_index in range(n_train_batches):
            it = (epoch - 1) * n_train_batches + minibatch_index
            if (it + 1) % validation_frequency == 0:
                this = errors[epoch - 1]
                validated.append(epoch)
                if this < best:
                    if this < best * improvement_threshold:
                        patience = max(patience, it * patience_increase)
                    best, best_epoch = this, epoch
            if patience <= it:
                return validated, best, best_epoch
    return validated, best, best_epoch


def epoch_loop(errors, n_train_batches, patience):
    """How dae.experiments.SdA drives EarlyStopping: whole epochs, one validation each."""
    stopper, validated = EarlyStopping(patience), []
    assert stopper.validation_frequency(n_train_batches) == n_train_batches
    for epoch in range(1, len(errors) + 1):
        iteration = epoch * n_train_batches - 1
        validated.append(epoch)
        stopper.update(iteration, errors[epoch - 1], epoch=epoch)
        if not stopper.validates_at(iteration + n_train_batches):
            break
    return validated, stopper.best_error, stopper.best_epoch


def test_early_stopping_on_a_scripted_sequence():
    # n = 10 minibatches an epoch, patience 100: epochs 1, 2 and 4 improve by more than
    # 0.5%, epoch 3 by less (a new best that does not extend patience); patience stays
    # max(100, 2 * 39) = 100, so the tutorial stops at minibatch 100, epoch 11's first,
    # having validated epochs 1..10.
    errors = [0.5, 0.4, 0.399, 0.3, 0.3] + [0.31] * 20
    stopper, news = EarlyStopping(100), []
    for epoch, e in enumerate(errors[:10], start=1):
        news.append(stopper.update(epoch * 10 - 1, e, epoch=epoch))
        assert stopper.validates_at(epoch * 10 + 9) == (epoch < 10)
    assert news == [True, True, True, True] + [False] * 6
    assert (stopper.best_error, stopper.best_epoch, stopper.best_iteration) == (0.3, 4, 39)
    assert stopper.patience == 100 and not stopper.should_stop(99) and stopper.should_stop(100)
    assert epoch_loop(errors, 10, 100) == tutorial_loop(errors, 10, 100) == (list(range(1, 11)), 0.3, 4)


def test_significant_improvement_extends_patience():
    stopper = EarlyStopping(100)
    stopper.update(599, 0.2)
    assert stopper.patience == 1198
    stopper.update(699, 0.1999)  # better, but by less than 0.5%
    assert stopper.patience == 1198 and stopper.best_error == 0.1999


@pytest.mark.parametrize("seed", range(20))
def test_epoch_loop_validates_exactly_what_the_tutorial_validates(seed):
    r = np.random.default_rng(seed)
    errors = list(np.minimum.accumulate(r.uniform(0.01, 0.1, 200)) * r.uniform(1, 1.02, 200))
    n, patience_factor = int(r.integers(2, 50)), int(r.integers(2, 12))
    patience = patience_factor * n
    assert epoch_loop(errors, n, patience) == tutorial_loop(errors, n, patience)


def test_early_stopping_rejects_bad_settings():
    with pytest.raises(ValueError, match="patience must be a positive int"):
        EarlyStopping(0)
    with pytest.raises(ValueError, match="improvement_threshold"):
        EarlyStopping(10, improvement_threshold=1.5)


# -- the experiment --------------------------------------------------------------------
def test_experiment_runs_end_to_end_on_a_small_slice(mnist, tmp_path, capsys, monkeypatch):
    from dae import data, io

    monkeypatch.setattr(data, "load_mnist", lambda where: mnist)
    status = script_main("SdA", ["--hidden-layers", "20", "10", "--corruption-levels", "0.1", "0.2",
                                 "--pretraining-epochs", "1", "--training-epochs", "2",
                                 "--batch-size", "50", "--output-dir", str(tmp_path),
                                 "--mode", "py", "--max-examples", "100", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "pretrain_1 epoch   0  cost " in out
    assert "finetune epoch   1  cost " in out and "valid_error" in out and "test_error" in out
    assert "pretraining took" in out and "fine-tuning took" in out
    assert [line for line in out.splitlines() if line.startswith("best validation ")]
    model = io.load(tmp_path / "best_model.npz")  # a dae model file: dae eval / info open it
    assert model.params[0].get_value().shape == (784, 20) and model.params[4].get_value().shape == (10, 10)
    assert (tmp_path / "filters_layer0.png").stat().st_size > 0


def test_experiment_reports_mismatched_flags_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "scripts/train_SdA.py", "--hidden-layers", "10", "10",
                          "--corruption-levels", "0.1", "--output-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=_repo())
    assert out.returncode == 1
    assert out.stderr.strip() == ("train_SdA.py: error: --corruption-levels has 1 values for 2 "
                                  "--hidden-layers; give one per layer")


def _repo():
    from pathlib import Path
    return Path(__file__).resolve().parents[1]


def test_training_graphs_stay_float32(rng):
    sda = _tiny_sda(rng)
    x, y = _tiny_data(rng), rng.randint(0, 3, 30)
    split = shared_dataset((x.get_value(), y))
    functions = [f.function for f in sda.pretraining_functions(x, 10, mode=MODE)]
    functions.append(sda.build_finetune_functions([split] * 3, 10, 0.1, mode=MODE)[0].function)
    for f in functions:
        dtypes = {getattr(v.type, "dtype", None) for v in f.maker.fgraph.variables}
        assert "float64" not in dtypes, f


def test_repr_names_the_hyperparameters_that_rebuild_the_model():
    sda = SdA(np.random.RandomState(0), n_ins=9, hidden_layers_sizes=[4, 3], n_outs=2,
              corruption_levels=[0.1, 0.2])
    assert repr(sda) == ("SdA(n_ins=9, hidden_layers_sizes=[4, 3], n_outs=2, "
                         "corruption_levels=[0.1, 0.2], layer_type='dA')")
