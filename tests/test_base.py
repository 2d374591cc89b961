"""dae.base: the one autoencoder dA, cA and sA build on, and the options each of them has
(corruption, loss, untied weights, dtype, shared parameters).

The mathematics runs in dae's Python mode (`py`: these graphs are tiny, and the
numbers do not depend on the backend); the "no float64 in the compiled float32 graph"
property is a property of dae's Numba mode, where it is checked.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import get_mode
from dae.cA import cA
from dae.dA import dA
from dae.random import RandomStreams
from dae.sA import sA
from dae.train import compile_step

MODE = get_mode("py")
MODELS = [dA, cA, sA]
# Penalty weights that switch each model's penalty off, so the cost is the reconstruction alone.
NO_PENALTY = {dA: {}, cA: {"contraction_level": 0.0},
              sA: {"sparsity_weight": 0.0, "weight_decay": 0.0}}


def _function(inputs, outputs, updates=None):
    return pytensor.function(inputs, outputs, updates=updates, mode=MODE)


def _binary(n, d, seed=0):
    return (np.random.default_rng(seed).random((n, d)) > 0.5).astype("float32")


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


# -- the parameters --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", MODELS)
def test_parameters_follow_the_tutorial(cls, rng):
    model = cls(rng, n_visible=30, n_hidden=20)
    W = model.W.get_value()
    bound = 4 * np.sqrt(6 / 50)
    assert W.shape == (30, 20) and W.dtype == np.float32
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.8 * bound
    assert not model.b.get_value().any() and not model.b_prime.get_value().any()
    assert model.params == [model.W, model.b, model.b_prime]


def test_passed_parameters_are_shared(rng):
    first = dA(rng, n_visible=8, n_hidden=3)
    second = dA(rng, n_visible=8, n_hidden=3, W=first.W, bhid=first.b)
    assert second.W is first.W and second.b is first.b and second.b_prime is not first.b_prime
    with pytest.raises(ValueError, match="shape"):
        dA(rng, n_visible=9, n_hidden=3, W=first.W)


@pytest.mark.parametrize("cls", MODELS)
def test_untied_weights_are_a_separate_trained_parameter(cls, rng):
    model = cls(rng, n_visible=6, n_hidden=4, tied=False)
    assert not model.hyperparameters()["tied"]
    assert model.W_prime is not model.W and model.W_prime in model.params
    assert model.params == [model.W, model.b, model.b_prime, model.W_prime]
    assert model.W.get_value().shape == (6, 4) and model.W_prime.get_value().shape == (4, 6)
    assert not np.allclose(model.W_prime.get_value(), model.W.get_value().T)
    cost, _ = model.get_cost(0.0)
    grads = _function([model.x], pytensor.grad(cost, model.params))(
        rng.random_sample((5, 6)).astype("float32"))
    assert grads[3].shape == (4, 6) and np.abs(grads[3]).max() > 0


def test_float32_by_default_and_float64_on_request(rng):
    for cls in MODELS:
        assert cls(rng, n_visible=4, n_hidden=2).W.dtype == "float32"
        model = cls(rng, n_visible=4, n_hidden=2, dtype="float64")
        cost, _ = model.get_cost(0.0)
        assert model.W.dtype == "float64" and cost.dtype == "float64"
        assert pt.grad(cost, model.W).dtype == "float64"


@pytest.mark.parametrize("cls", MODELS)
def test_bad_options_are_refused(cls, rng):
    with pytest.raises(ValueError, match="corruption"):
        cls(rng, n_visible=6, n_hidden=4, corruption="dropout")
    with pytest.raises(ValueError, match="loss"):
        cls(rng, n_visible=6, n_hidden=4, loss="hinge")


# -- eq. (1): corruption -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def corrupt():
    """``corrupt(cls, corruption)``: a compiled ``x, level -> x~`` drawing afresh at each call.

    One function per model class and corruption, the level an input: compiled once.
    """
    compiled = {}

    def get(cls, corruption):
        if (cls, corruption) not in compiled:
            model = cls(np.random.RandomState(5), n_visible=100, n_hidden=3, corruption=corruption)
            assert model.corruption == corruption and model.hyperparameters()["corruption"] == corruption
            level = pt.scalar("level", dtype="float32")
            compiled[cls, corruption] = _function(
                [model.x, level], model.get_corrupted_input(model.x, level), model.theano_rng.updates())
        return compiled[cls, corruption]
    return get


@pytest.mark.parametrize("cls", MODELS)
def test_masking_zeroes_the_requested_fraction_afresh_at_each_call(cls, corrupt):
    f = corrupt(cls, "mask")
    for level in (0.1, 0.5, 0.75):
        out = f(np.ones((200, 100), dtype="float32"), level)
        assert set(np.unique(out)) <= {0.0, 1.0}
        # 20,000 draws: the fraction's standard deviation is at most 0.0035
        assert abs((out == 0).mean() - level) < 0.015, (level, (out == 0).mean())
    ones = np.ones((4, 100), dtype="float32")
    assert not np.array_equal(f(ones, 0.5), f(ones, 0.5))


@pytest.mark.parametrize("cls", MODELS)
def test_gaussian_noise_has_mean_zero_and_std_sigma(cls, corrupt):
    x = np.full((200, 100), 0.5, dtype="float32")
    for sigma in (0.1, 0.5):
        noise = corrupt(cls, "gaussian")(x, sigma) - x
        assert abs(noise.mean()) < 0.05 * sigma
        assert abs(noise.std() / sigma - 1) < 0.03
        assert (noise != 0).mean() > 0.99  # every input is perturbed, not a fraction


@pytest.mark.parametrize("cls", MODELS)
def test_salt_and_pepper_flips_the_fraction_half_to_0_half_to_1(cls, corrupt):
    x = np.full((200, 100), 0.5, dtype="float32")
    for level in (0.2, 0.6):
        out = corrupt(cls, "salt_and_pepper")(x, level)
        changed = out != 0.5
        assert set(np.unique(out[changed])) <= {0.0, 1.0}
        assert abs(changed.mean() - level) < 0.015
        assert abs((out[changed] == 1).mean() - 0.5) < 0.03


@pytest.mark.parametrize("cls", [cA, sA])
def test_corruption_level_reaches_the_training_cost(cls, rng):
    """get_cost_updates(..., corruption_level=) corrupts: each call draws a new input."""
    model = cls(rng, n_visible=20, n_hidden=4, corruption="mask")
    args = {"contraction_level": 0.1} if cls is cA else {}
    cost, updates = model.get_cost_updates(learning_rate=0.0, corruption_level=0.5, **args)
    f = _function([model.x], cost, updates)
    x = rng.random_sample((8, 20)).astype("float32")
    assert f(x) != f(x)  # learning rate 0: only the corruption changes


# -- eq. (4)-(5): the cost and its gradient ----------------------------------------------------
@pytest.mark.parametrize("cls", MODELS)
def test_cross_entropy_and_squared_error_match_numpy(cls, rng):
    for loss in ("cross_entropy", "squared_error"):
        model = cls(rng, n_visible=6, n_hidden=4, loss=loss, dtype="float64")
        model.b.set_value(rng.normal(size=4))
        model.b_prime.set_value(rng.normal(size=6))
        cost, _ = model.get_cost(0.0, **NO_PENALTY[cls])
        x = rng.random_sample((5, 6))
        W, b, c = model.W.get_value(), model.b.get_value(), model.b_prime.get_value()
        z = _sigmoid(_sigmoid(x @ W + b) @ W.T + c)
        if loss == "cross_entropy":
            expected = -np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1).mean()
        else:
            expected = np.mean(np.sum((x - z) ** 2, axis=1) / 2)
        np.testing.assert_allclose(_function([model.x], cost)(x), expected, rtol=1e-12)
        assert model.hyperparameters()["loss"] == loss


def test_cross_entropy_is_finite_for_saturated_units(rng):
    da = dA(rng, n_visible=4, n_hidden=3)
    da.b_prime.set_value(np.array([80, -80, 80, -80], dtype="float32"))
    cost, _ = da.get_cost(0.0)
    value = _function([da.x], cost)(np.array([[0, 1, 1, 0]], dtype="float32"))
    assert np.isfinite(value) and value > 100  # the tutorial's log form gives inf here


# dA's cost at corruption 0, then every penalty and option of cA and sA
GRADIENT_CASES = [
    (dA, {}, {}),
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


# -- training ------------------------------------------------------------------------------------
def _train(seed, steps=30):
    data = pytensor.shared(_binary(60, 12))
    rng = np.random.RandomState(seed)
    da = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=12, n_hidden=5)
    cost, updates = da.get_cost_updates(0.3, 0.1)
    step = compile_step({da.x: data}, 10, cost, updates, mode="py")
    for i in range(steps):
        step(i % 6)
    return [p.get_value() for p in da.params]


def test_seed_reproduces_and_different_seed_differs():
    a, b, c = _train(7), _train(7), _train(8)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    assert any(not np.array_equal(pa, pc) for pa, pc in zip(a, c))


@pytest.mark.parametrize("name", ["dA", "cA", "sA"])
def test_no_float64_in_the_compiled_training_graph(name, compiled_steps):
    """dae's Numba mode keeps a float32 model's step float32 (conftest's shared steps)."""
    _, [step] = compiled_steps(name, "numba")
    float64 = [v for v in step.function.maker.fgraph.variables
               if getattr(v.type, "dtype", None) == "float64"]
    assert not float64, f"float64 variables in the {name} step: {float64}"
