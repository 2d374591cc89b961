"""Options every autoencoder has (corruption, loss, untied weights, dtype), for dA, cA and sA."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.cA import cA
from dae.dA import dA
from dae.sA import sA

MODELS = [dA, cA, sA]
# Penalty weights that switch each model's penalty off, so the cost is the reconstruction alone.
NO_PENALTY = {dA: {}, cA: {"contraction_level": 0.0},
              sA: {"sparsity_weight": 0.0, "weight_decay": 0.0}}


def _function(inputs, outputs, updates=None):
    return pytensor.function(inputs, outputs, updates=updates, mode="FAST_COMPILE")


def _corrupt(cls, corruption, level, x):
    model = cls(np.random.RandomState(5), n_visible=x.shape[1], n_hidden=3, corruption=corruption)
    assert model.corruption == corruption and model.hyperparameters()["corruption"] == corruption
    out = model.get_corrupted_input(model.x, level)
    return _function([model.x], out, model.theano_rng.updates())(x)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("level", [0.1, 0.5])
def test_masking_zeroes_the_requested_fraction(cls, level):
    out = _corrupt(cls, "mask", level, np.ones((200, 100), dtype="float32"))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs((out == 0).mean() - level) < 0.015


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gaussian_noise_has_mean_zero_and_std_sigma(cls, sigma):
    x = np.full((200, 100), 0.5, dtype="float32")
    noise = _corrupt(cls, "gaussian", sigma, x) - x
    assert abs(noise.mean()) < 0.05 * sigma
    assert abs(noise.std() / sigma - 1) < 0.03
    assert (noise != 0).mean() > 0.99  # every input is perturbed, not a fraction


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("level", [0.2, 0.6])
def test_salt_and_pepper_flips_the_fraction_half_to_0_half_to_1(cls, level):
    x = np.full((200, 100), 0.5, dtype="float32")
    out = _corrupt(cls, "salt_and_pepper", level, x)
    changed = out != 0.5
    assert set(np.unique(out[changed])) <= {0.0, 1.0}
    assert abs(changed.mean() - level) < 0.015
    assert abs((out[changed] == 1).mean() - 0.5) < 0.03


@pytest.mark.parametrize("cls", MODELS)
def test_squared_error_loss_matches_numpy(cls, rng):
    model = cls(rng, n_visible=6, n_hidden=4, loss="squared_error", dtype="float64")
    model.b.set_value(rng.normal(size=4))
    model.b_prime.set_value(rng.normal(size=6))
    cost, _ = model.get_cost(0.0, **NO_PENALTY[cls])
    x = rng.random_sample((5, 6))
    W, b, c = model.W.get_value(), model.b.get_value(), model.b_prime.get_value()
    y = 1 / (1 + np.exp(-(x @ W + b)))
    z = 1 / (1 + np.exp(-(y @ W.T + c)))
    np.testing.assert_allclose(_function([model.x], cost)(x),
                               np.mean(np.sum((x - z) ** 2, axis=1) / 2), rtol=1e-12)
    assert model.hyperparameters()["loss"] == "squared_error"


@pytest.mark.parametrize("cls", MODELS)
def test_untied_weights_are_a_separate_trained_parameter(cls, rng):
    model = cls(rng, n_visible=6, n_hidden=4, tied=False)
    assert not model.hyperparameters()["tied"]
    assert model.W_prime is not model.W and model.W_prime in model.params
    assert model.params == [model.W, model.b, model.b_prime, model.W_prime]
    assert model.W.get_value().shape == (6, 4) and model.W_prime.get_value().shape == (4, 6)
    assert not np.allclose(model.W_prime.get_value(), model.W.get_value().T)
    cost, _ = model.get_cost(0.0)
    grads = _function([model.x], pytensor.grad(cost, model.params))(rng.random_sample((5, 6)).astype("float32"))
    assert grads[3].shape == (4, 6) and np.abs(grads[3]).max() > 0
    tied = cls(rng, n_visible=6, n_hidden=4)
    assert tied.params == [tied.W, tied.b, tied.b_prime]


@pytest.mark.parametrize("cls", MODELS)
def test_bad_options_are_refused(cls, rng):
    with pytest.raises(ValueError, match="corruption"):
        cls(rng, n_visible=6, n_hidden=4, corruption="dropout")
    with pytest.raises(ValueError, match="loss"):
        cls(rng, n_visible=6, n_hidden=4, loss="hinge")


@pytest.mark.parametrize("cls", [cA, sA])
def test_corruption_level_reaches_the_training_cost(cls, rng):
    """get_cost_updates(..., corruption_level=) corrupts: each call draws a new input."""
    model = cls(rng, n_visible=20, n_hidden=4, corruption="mask")
    args = {"contraction_level": 0.1} if cls is cA else {}
    cost, updates = model.get_cost_updates(learning_rate=0.0, corruption_level=0.5, **args)
    f = _function([model.x], cost, updates)
    x = rng.random_sample((8, 20)).astype("float32")
    assert f(x) != f(x)  # learning rate 0: only the corruption changes


# -- gradients of every cost, in float64 ---------------------------------------------
GRADIENT_CASES = [
    (cA, {}, {"contraction_level": 0.7}),
    (cA, {"tied": False, "loss": "squared_error"}, {"contraction_level": 2.0}),
    (sA, {}, {"sparsity_target": 0.2, "sparsity_weight": 3.0, "weight_decay": 0.1}),
    (sA, {"tied": False, "loss": "cross_entropy"}, {"sparsity_weight": 1.5, "weight_decay": 0.3}),
    (sA, {"sparsity": "l1"}, {"sparsity_weight": 0.5, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("cls, options, penalty", GRADIENT_CASES,
                         ids=[f"{c.__name__}-{o}-{p}" for c, o, p in GRADIENT_CASES])
def test_cost_gradient_matches_finite_differences(cls, options, penalty, rng, check_gradients):
    model = cls(rng, n_visible=5, n_hidden=3, dtype="float64", **options)
    model.b.set_value(rng.normal(size=3))
    cost, _ = model.get_cost(0.0, **penalty)
    f = _function([model.x], [cost] + pytensor.grad(cost, model.params))
    check_gradients(f, model.params, rng.random_sample((4, 5)))


def test_float32_by_default_and_float64_on_request(rng):
    for cls in MODELS:
        assert cls(rng, n_visible=4, n_hidden=2).W.dtype == "float32"
        model = cls(rng, n_visible=4, n_hidden=2, dtype="float64")
        cost, _ = model.get_cost(0.0)
        assert model.W.dtype == "float64" and cost.dtype == "float64"
        assert pt.grad(cost, model.W).dtype == "float64"
