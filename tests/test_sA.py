import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import get_mode
from dae.random import RandomStreams
from dae.sA import sA
from dae.train import compile_step, fit


def _function(inputs, outputs):
    return pytensor.function(inputs, outputs, mode=get_mode("py"))


def _kl(rho, rho_hat):
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


@pytest.fixture
def kl_of(rng):
    """sum_j KL(rho || rho^_j) of a given hidden matrix, in float64."""
    model = sA(rng, n_visible=4, n_hidden=3, dtype="float64")
    hidden, rho = pt.matrix("h", dtype="float64"), pt.scalar("rho", dtype="float64")
    return _function([hidden, rho], model.kl_divergence(hidden, rho))


def test_kl_is_zero_when_mean_activation_equals_target(kl_of):
    hidden = np.array([[0.2, 0.0, 0.1], [0.0, 0.2, 0.1]])  # column means 0.1
    assert kl_of(hidden, 0.1) == pytest.approx(0, abs=1e-15)


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.5])
def test_kl_is_positive_otherwise_and_matches_numpy(kl_of, rng, rho):
    hidden = rng.random_sample((6, 3))
    value = kl_of(hidden, rho)
    assert value > 0
    np.testing.assert_allclose(value, _kl(rho, hidden.mean(axis=0)), rtol=1e-12)


def test_kl_is_finite_for_dead_and_saturated_units_in_float32(rng):
    model = sA(rng, n_visible=4, n_hidden=2)
    hidden = pt.matrix("h")
    value = _function([hidden], model.kl_divergence(hidden, 0.1))(
        np.array([[0, 1], [0, 1]], dtype="float32"))
    assert np.isfinite(value) and value > 10  # clipped, not log(0)


def test_cost_matches_numpy(rng):
    """Eq. (6): squared error + beta * sum KL + lambda/2 * ||W||^2."""
    model = sA(rng, n_visible=6, n_hidden=4, dtype="float64")
    beta, lam, rho = 3.0, 3e-3, 0.1
    cost, _ = model.get_cost_updates(learning_rate=0.1, sparsity_target=rho, sparsity_weight=beta,
                                     weight_decay=lam)
    x = rng.random_sample((5, 6))
    W, b, c = model.W.get_value(), model.b.get_value(), model.b_prime.get_value()
    y = 1 / (1 + np.exp(-(x @ W + b)))
    z = 1 / (1 + np.exp(-(y @ W.T + c)))
    expected = np.mean(np.sum((x - z) ** 2, axis=1) / 2) + beta * _kl(rho, y.mean(axis=0)) \
        + lam / 2 * np.sum(W**2)
    np.testing.assert_allclose(_function([model.x], cost)(x), expected, rtol=1e-12)


def test_untied_weight_decay_counts_both_matrices(rng):
    model = sA(rng, n_visible=6, n_hidden=4, tied=False, dtype="float64")
    expected = (np.sum(model.W.get_value() ** 2) + np.sum(model.W_prime.get_value() ** 2)) / 2
    np.testing.assert_allclose(_function([], model.weight_decay_term())(), expected, rtol=1e-12)


def test_l1_penalty_is_beta_times_mean_summed_activation(rng):
    model = sA(rng, n_visible=6, n_hidden=4, sparsity="l1", dtype="float64")
    assert model.hyperparameters()["sparsity"] == "l1"
    x = rng.random_sample((5, 6))
    hidden = model.get_hidden_values(model.x)
    penalty = model.penalty(model.x, hidden, sparsity_weight=2.0, weight_decay=0.0)
    y = 1 / (1 + np.exp(-(x @ model.W.get_value() + model.b.get_value())))
    np.testing.assert_allclose(_function([model.x], penalty)(x), 2.0 * y.sum(axis=1).mean(),
                               rtol=1e-12)


@pytest.mark.parametrize("args, match", [
    ({"sparsity_target": 0.0}, "sparsity_target"), ({"sparsity_target": 1.0}, "sparsity_target"),
    ({"sparsity_target": 1.5}, "sparsity_target"), ({"sparsity_weight": -1.0}, "sparsity_weight"),
    ({"weight_decay": float("nan")}, "weight_decay"),
])
def test_bad_hyperparameters_are_refused(rng, args, match):
    model = sA(rng, n_visible=6, n_hidden=4)
    with pytest.raises(ValueError, match=match):
        model.get_cost_updates(0.1, **args)


def test_unknown_sparsity_is_refused(rng):
    with pytest.raises(ValueError, match="sparsity must be one of"):
        sA(rng, n_visible=6, n_hidden=4, sparsity="l2")


def test_a_seed_draws_the_tutorials_weights(tutorial_draws):
    """sA(RandomState(123)) draws W as the tutorial's cA does: first, the stream seeded after."""
    seed, W = tutorial_draws(123, 784, 196, stream_first=False)
    model = sA(np.random.RandomState(123))
    np.testing.assert_array_equal(model.W.get_value(), W)
    assert model.theano_rng.get_state() == RandomStreams(seed).get_state()


def test_sparsity_pulls_the_mean_activation_to_the_target_on_mnist(mnist):
    """Same start, data and steps: with beta = 3 the mean activation ends nearer rho than with 0."""
    x = pytensor.shared(mnist[0][0][:2000])
    model = sA(np.random.RandomState(123), n_hidden=49)
    start = [p.get_value() for p in model.params]
    beta = pytensor.shared(np.float32(0), name="beta")  # one graph, compiled once
    cost, hidden = model.get_cost(sparsity_target=0.1, sparsity_weight=beta)
    step = compile_step({model.x: x}, 100, [cost, pt.mean(hidden)], model.updates_for(cost, 0.5),
                        mode="py")
    distance = {}
    for value in (0.0, 3.0):
        beta.set_value(np.float32(value))
        for p, v in zip(model.params, start):
            p.set_value(v)
        activation = fit(step, step.n_steps, 5, names=("cost", "activation"))[-1]["activation"]
        distance[value] = abs(activation - 0.1)
    assert distance[3.0] < 0.25 * distance[0.0], distance
