"""dae.evaluate: reconstruction cost, classification error, and evaluations that repeat exactly."""
import numpy as np
import pytest

from dae import memory
from dae.dA import dA
from dae.evaluate import Evaluator, classification_error, reconstruction_cost
from dae.SdA import SdA
from dae.VAE import VAE

MODE = "FAST_COMPILE"  # tiny graphs


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_evaluations_repeat_exactly_however_often_they_ran():
    """A run's per-epoch validation ELBO must not depend on how many times it was computed
    (a resumed run computes it fewer times than an uninterrupted one)."""
    model = VAE(np.random.RandomState(0), n_visible=12, hidden_layers_sizes=[8], n_latent=3)
    x = (np.random.default_rng(1).random((30, 12)) < 0.5).astype("float32")
    evaluator = Evaluator(model, seed=4, mode=MODE)
    first_elbo, first_iwae = evaluator.elbo(x, batch_size=7), evaluator.iwae(x, 5)
    assert not np.array_equal(first_elbo[:7], first_elbo[7:14])  # samples do differ within a call
    for _ in range(2):
        np.testing.assert_array_equal(evaluator.elbo(x, batch_size=7), first_elbo)
        np.testing.assert_array_equal(evaluator.iwae(x, 5), first_iwae)
    np.testing.assert_array_equal(Evaluator(model, seed=4, mode=MODE).iwae(x, 5), first_iwae)


def test_iwae_refuses_a_k_whose_samples_do_not_fit():
    model = VAE(np.random.RandomState(0), n_visible=12, hidden_layers_sizes=[8], n_latent=3)
    with pytest.raises(memory.MemoryNeeded, match=r"the IWAE bound with k=1000000000000 \(1 example "
                                                  r"at a time\): .* needed, .*; use a smaller k"):
        Evaluator(model, mode=MODE).iwae(np.zeros((2, 12)), 10**12)


def test_reconstruction_cost_is_the_mean_cross_entropy_at_any_batch_size(rng):
    model = dA(rng, n_visible=6, n_hidden=4)
    model.b_prime.set_value(rng.standard_normal(6).astype("float32"))
    x = rng.rand(11, 6).astype("float32")
    W, b, c = (p.get_value().astype(np.float64) for p in model.params)
    z = _sigmoid(_sigmoid(x @ W + b) @ W.T + c)
    expected = -np.mean(np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1))
    for batch_size in (1, 4, 1000):
        assert reconstruction_cost(model, x, batch_size, MODE) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"expected x of shape \(n, 6\)"):
        reconstruction_cost(model, x[:, :5])


def test_classification_error_counts_every_example_once(rng):
    sda = SdA(rng, n_ins=6, hidden_layers_sizes=[5], n_outs=3, corruption_levels=[0.1])
    sda.logLayer.W.set_value(rng.standard_normal((5, 3)).astype("float32"))
    x = rng.rand(10, 6).astype("float32")
    W, b = sda.sigmoid_layers[0].W.get_value(), sda.sigmoid_layers[0].b.get_value()
    predicted = np.argmax(_sigmoid(x @ W + b) @ sda.logLayer.W.get_value(), axis=1)
    y = predicted.copy()
    y[[1, 4, 7]] = (y[[1, 4, 7]] + 1) % 3  # three wrong of ten
    for batch_size in (3, 1000):
        assert classification_error(sda, x, y, batch_size, MODE) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="needs labels y, got None"):
        classification_error(sda, x, None)
    with pytest.raises(ValueError, match=r"expected y of 10 integer labels in \[0, 3\)"):
        classification_error(sda, x, y + 3)
