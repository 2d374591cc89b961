"""dae.evaluate: reconstruction cost, classification error, and evaluations that repeat exactly."""
import numpy as np
import pytest

from dae.config import get_mode
from dae import memory
from dae.dA import dA
from dae.evaluate import Evaluator, classification_error, reconstruction_cost
from dae.SdA import SdA
from dae.VAE import VAE

MODE = get_mode("py")  # tiny graphs


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


# -- features, the contractive autoencoder's analysis, linear probes ------------------------------
from dae.cA import cA  # noqa: E402
from dae.evaluate import (contraction_curve, contraction_ratios, encode, encoder_jacobians,  # noqa: E402
                          jacobian_norms, jacobian_spectrum, linear_probe)
from dae.linear import LinearAutoencoder  # noqa: E402


def _encoders():
    rng = np.random.RandomState(3)
    return [dA(rng, n_visible=7, n_hidden=4, dtype="float64"),
            LinearAutoencoder(rng, n_visible=7, n_hidden=4, dtype="float64")]


@pytest.mark.parametrize("model", _encoders(), ids=["sigmoid", "linear"])
def test_encoder_jacobians_match_finite_differences(model):
    model.b.set_value(np.random.default_rng(0).normal(size=4))
    x = np.random.default_rng(1).random((3, 7))
    eps = 1e-6
    numeric = np.stack([(encode(model, x + eps * e, mode=MODE) - encode(model, x - eps * e, mode=MODE))
                        / (2 * eps) for e in np.eye(7)], axis=2)  # (n, n_hidden, n_visible)
    np.testing.assert_allclose(encoder_jacobians(model, x, MODE), numeric, rtol=1e-6, atol=1e-9)


def test_jacobian_norms_are_the_frobenius_norms_and_the_cas_penalty(rng):
    model = cA(rng, n_visible=7, n_hidden=4, dtype="float64")
    x = np.random.default_rng(2).random((9, 7))
    norms = jacobian_norms(model, x, batch_size=4, mode=MODE)
    explicit = np.linalg.norm(encoder_jacobians(model, x, MODE), axis=(1, 2))
    np.testing.assert_allclose(norms, explicit, rtol=1e-12)
    import pytensor
    penalty = pytensor.function([model.x], model.jacobian_norm_sq(model.get_hidden_values(model.x)),
                                mode=MODE)(x)
    np.testing.assert_allclose(norms ** 2, penalty, rtol=1e-10)


def test_jacobian_spectrum_is_the_mean_of_the_sorted_singular_values():
    sigmoid, linear = _encoders()
    x = np.random.default_rng(3).random((5, 7))
    expected = np.linalg.svd(encoder_jacobians(sigmoid, x, MODE), compute_uv=False).mean(axis=0)
    np.testing.assert_allclose(jacobian_spectrum(sigmoid, x, batch_size=2, mode=MODE), expected)
    assert np.all(np.diff(expected) <= 0)
    # a linear encoder's Jacobian is W^T everywhere
    np.testing.assert_allclose(jacobian_spectrum(linear, x, mode=MODE),
                               np.linalg.svd(linear.W.get_value(), compute_uv=False))


def test_contraction_ratio_of_a_linear_encoder_is_its_gain_along_the_direction():
    _, linear = _encoders()
    gen = np.random.default_rng(4)
    x, x_prime = gen.random((6, 7)), gen.random((6, 7))
    W = linear.W.get_value()
    expected = np.linalg.norm((x - x_prime) @ W, axis=1) / np.linalg.norm(x - x_prime, axis=1)
    np.testing.assert_allclose(contraction_ratios(linear, x, x_prime, mode=MODE), expected)
    # the same directions at every radius: the curve of a linear map is flat
    curve = contraction_curve(linear, x, [0.01, 1.0, 100.0], seed=0, mode=MODE)
    assert curve.shape == (3,) and np.all(curve > 0)
    with pytest.raises(ValueError, match="distinct points"):
        contraction_ratios(linear, x, x, mode=MODE)
    with pytest.raises(ValueError, match="positive distances"):
        contraction_curve(linear, x, [0.0], mode=MODE)


def test_contraction_ratio_of_a_sigmoid_encoder_tends_to_the_jacobian_at_small_distances():
    sigmoid, _ = _encoders()
    x = np.random.default_rng(5).random((40, 7))
    small, large = contraction_curve(sigmoid, x, [1e-4, 30.0], seed=1, mode=MODE)
    # E ||J u|| over unit directions u lies between the smallest and the largest singular value
    spectrum = jacobian_spectrum(sigmoid, x, mode=MODE)
    assert spectrum[-1] < small < spectrum[0]
    assert large < small  # far away the sigmoids saturate: the code barely moves


def test_encode_gives_each_models_features(rng):
    x = np.random.default_rng(6).random((5, 6)).astype("float32")
    sda = SdA(rng, n_ins=6, hidden_layers_sizes=[5, 4], n_outs=3, corruption_levels=[0.1, 0.1])
    vae = VAE(rng, n_visible=6, hidden_layers_sizes=[8], n_latent=3)
    assert encode(sda, x, mode=MODE).shape == (5, 4)
    assert encode(vae, x, mode=MODE).shape == (5, 3)
    assert encode(dA(rng, n_visible=6, n_hidden=2), x, batch_size=2, mode=MODE).shape == (5, 2)


def test_linear_probe_chooses_its_weight_on_validation_and_reports_test():
    gen = np.random.default_rng(7)
    centres = gen.normal(scale=3, size=(3, 5))

    def split(n):
        y = gen.integers(0, 3, n)
        return centres[y] + gen.normal(size=(n, 5)), y
    test = split(400)
    result = linear_probe(split(300), split(100), test, l2=(10.0, 1e-3), max_iter=100, mode=MODE)
    assert set(result) == {"l2", "train_error", "valid_error", "test_error", "by_l2"}
    assert result["l2"] == min(result["by_l2"], key=result["by_l2"].get)
    assert result["valid_error"] == result["by_l2"][result["l2"]]
    # the Bayes rule here (equal priors, unit covariance) is the nearest centre, also linear
    nearest = np.argmin(((test[0][:, None] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert result["test_error"] < np.mean(nearest != test[1]) + 0.03
