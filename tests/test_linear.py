"""dae.linear: the linear autoencoder, whose optimum is PCA (Baldi & Hornik, 1989)."""
import numpy as np
import pytensor
import pytest
import scipy.linalg

from dae.config import get_mode
from dae.linear import LinearAutoencoder
from dae.optimize import lbfgs

PY = get_mode("py")


def test_the_encoder_and_decoder_are_affine_and_tied(rng):
    """(1) y = x W + b and (2) z = y W^T + b', (3) the squared error over 2: no sigmoid anywhere."""
    model = LinearAutoencoder(rng, n_visible=5, n_hidden=2, dtype="float64")
    model.b.set_value(rng.randn(2))
    model.b_prime.set_value(rng.randn(5))
    x = rng.randn(4, 5)
    y = model.get_hidden_values(model.x)
    z = model.get_reconstructed_input(y)
    f = pytensor.function([model.x], [y, z, model.get_cost()[0]], mode=PY)
    W, b, b_prime = model.W.get_value(), model.b.get_value(), model.b_prime.get_value()
    want_y = x @ W + b
    want_z = want_y @ W.T + b_prime
    got_y, got_z, cost = f(x)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-12)
    np.testing.assert_allclose(got_z, want_z, rtol=1e-12)
    assert cost == pytest.approx(np.mean(np.sum((x - want_z) ** 2, axis=1)) / 2, rel=1e-12)


def test_trained_by_lbfgs_it_spans_pcas_subspace(low_rank_data):
    x = low_rank_data()
    model = LinearAutoencoder(np.random.RandomState(0), n_visible=12, n_hidden=2, dtype="float64")
    cost = model.get_cost()[0]
    result = lbfgs(model, cost, x, max_iter=500, mode=PY)
    assert result.converged, result.message
    # tied, the optimum's W has orthonormal columns: W W^T is the projection itself
    np.testing.assert_allclose(model.W.get_value().T @ model.W.get_value(), np.eye(2), atol=1e-5)
    centred = x - x.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:2].T  # PCA's top-2 directions
    angles = scipy.linalg.subspace_angles(model.W.get_value(), top)
    assert np.degrees(angles.max()) < 1e-3, np.degrees(angles)
    pca_error = np.mean(np.sum((centred - centred @ top @ top.T) ** 2, axis=1)) / 2
    assert result.cost == pytest.approx(pca_error, rel=1e-5)
    assert result.iterations == len(result.history) > 5
    assert [r["iteration"] for r in result.history] == list(range(1, result.iterations + 1))
