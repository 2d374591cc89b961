"""dae.optimize: full-batch L-BFGS for any model (its stops, its pieces, the sA experiment's --optimizer lbfgs)."""
import numpy as np
import pytest

from dae.config import get_mode
from dae import cli, io
from dae.linear import LinearAutoencoder
from dae.optimize import _Objective, _inputs, lbfgs
from dae.sA import sA

PY = get_mode("py")  # tiny graphs


def test_the_model_keeps_the_best_parameters_when_ctrl_c_stops_it(low_rank_data):
    x = low_rank_data()
    model = LinearAutoencoder(np.random.RandomState(0), n_visible=12, n_hidden=2, dtype="float64")
    cost = model.get_cost()[0]

    def press_ctrl_c(record):
        if record["iteration"] == 4:
            raise KeyboardInterrupt

    result = lbfgs(model, cost, x, mode=PY, callback=press_ctrl_c)
    assert result.interrupted and result.iterations == 4 and not result.converged
    now_theta = _theta(model)
    now = _Objective(model.params, cost, _inputs(model, x), None, PY)(now_theta)[0]
    assert now == pytest.approx(result.cost) and now <= min(r["cost"] for r in result.history)
    assert now_theta.dtype == np.float64


def _theta(model):
    return np.concatenate([p.get_value().ravel() for p in model.params]).astype(np.float64)


def test_a_callback_returning_true_stops_after_that_iteration(low_rank_data):
    x = low_rank_data()
    model = LinearAutoencoder(np.random.RandomState(0), n_visible=12, n_hidden=2, dtype="float64")
    result = lbfgs(model, model.get_cost()[0], x, mode=PY, callback=lambda r: r["iteration"] == 2)
    assert result.iterations == 2 and not result.interrupted


def test_cost_and_gradient_in_pieces_equal_the_whole_batch_for_a_mean_cost(low_rank_data):
    """batch_size recombines pieces of unequal size in float64: same f and g as one call."""
    x = low_rank_data(n=50).astype("float32")
    model = sA(np.random.RandomState(0), n_visible=12, n_hidden=4, sparsity="l1")
    cost = model.get_cost(sparsity_weight=0.1)[0]  # L1 of the activations: a mean over rows
    theta = _theta(model)
    whole = _Objective(model.params, cost, _inputs(model, x), None, PY)(theta)
    pieces = _Objective(model.params, cost, _inputs(model, x), 7, PY)(theta)
    assert pieces[0] == pytest.approx(whole[0], rel=1e-6)
    np.testing.assert_allclose(pieces[1], whole[1], rtol=1e-4, atol=1e-6)


def test_bad_data_are_refused_before_compiling():
    model = LinearAutoencoder(np.random.RandomState(0), n_visible=12, n_hidden=2)
    with pytest.raises(ValueError, match="2-d"):
        lbfgs(model, model.get_cost()[0], np.zeros(12), mode=PY)
    with pytest.raises(ValueError, match="max_iter"):
        lbfgs(model, model.get_cost()[0], np.zeros((3, 12)), max_iter=0, mode=PY)


def test_dae_train_sA_with_lbfgs_lowers_the_full_batch_cost_and_resumes(tmp_path, capsys):
    images = np.random.default_rng(0).random((60, 6, 6), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    flags = ["--data", str(tmp_path / "images.npy"), "--n-hidden", "5", "--optimizer", "lbfgs",
             "--lbfgs-iterations", "4", "--mode", "py", "--quiet"]
    assert cli.main(["train", "sA", "--output-dir", str(tmp_path / "a"), "--epochs", "3", *flags]) == 0
    costs = [r["cost"] for r in io.read(tmp_path / "a" / "sA.npz").info["training"]["history"]]
    assert len(costs) == 3 and costs[2] < costs[1] < costs[0]
    # two epochs, then one more on --resume: the same parameters as three at once
    assert cli.main(["train", "sA", "--output-dir", str(tmp_path / "b"), "--epochs", "2", *flags]) == 0
    assert cli.main(["train", "sA", "--output-dir", str(tmp_path / "b"), "--epochs", "3", "--resume"]) == 0
    capsys.readouterr()
    for a, b in zip(io.read(tmp_path / "a" / "sA.npz").params, io.read(tmp_path / "b" / "sA.npz").params):
        np.testing.assert_array_equal(a, b)
