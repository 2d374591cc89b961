import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import get_mode
from dae.layers import HiddenLayer, LogisticRegression

MODE = get_mode("py")


def test_hidden_layer_initialization_follows_the_tutorial(rng):
    x = pt.matrix("x")
    for activation, scale in ((pt.tanh, 1), (pt.sigmoid, 4)):
        layer = HiddenLayer(rng, x, 300, 200, activation=activation)
        W, bound = layer.W.get_value(), scale * np.sqrt(6 / 500)
        assert W.shape == (300, 200) and W.dtype == np.float32
        assert bound * 0.99 < np.abs(W).max() <= bound, "Glorot range, x4 for the sigmoid"
        assert not layer.b.get_value().any() and layer.b.get_value().shape == (200,)
        assert layer.params == [layer.W, layer.b]


def test_hidden_layer_computes_activation_and_shares_given_parameters(rng):
    x = pt.matrix("x")
    first = HiddenLayer(rng, x, 5, 3, activation=pt.sigmoid)
    second = HiddenLayer(rng, x, 5, 3, W=first.W, b=first.b, activation=None)
    assert second.W is first.W and second.b is first.b
    first.b.set_value(np.arange(3, dtype="float32"))
    data = rng.rand(4, 5).astype("float32")
    out, lin = pytensor.function([x], [first.output, second.output], mode=MODE)(data)
    expected = data @ first.W.get_value() + np.arange(3)
    np.testing.assert_allclose(lin, expected, rtol=1e-5)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-expected)), rtol=1e-5)


def test_hidden_layer_rejects_bad_parameters(rng):
    x = pt.matrix("x")
    with pytest.raises(ValueError, match="W has shape"):
        HiddenLayer(rng, x, 5, 3, W=pytensor.shared(np.zeros((3, 5), "float32")))
    with pytest.raises(TypeError, match="shared variable"):
        HiddenLayer(rng, x, 5, 3, W=np.zeros((5, 3), "float32"))
    with pytest.raises(ValueError, match="n_out must be a positive int"):
        HiddenLayer(rng, x, 5, 0)


def _classifier(rng, n_in=6, n_out=4):
    x, y = pt.matrix("x"), pt.ivector("y")
    layer = LogisticRegression(x, n_in, n_out)
    assert not layer.W.get_value().any() and not layer.b.get_value().any()
    layer.W.set_value(rng.randn(n_in, n_out).astype("float32"))
    layer.b.set_value(rng.randn(n_out).astype("float32"))
    return x, y, layer


def test_softmax_is_a_distribution_over_classes_for_each_row(rng):
    x, y, layer = _classifier(rng)
    data = rng.randn(5, 6).astype("float32")
    p, pred = pytensor.function([x], [layer.p_y_given_x, layer.y_pred], mode=MODE)(data)
    assert p.shape == (5, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)  # axis=None would make the whole matrix sum to 1
    np.testing.assert_array_equal(pred, p.argmax(axis=1))


def test_negative_log_likelihood_and_errors_match_numpy(rng):
    x, y, layer = _classifier(rng)
    data, labels = rng.randn(7, 6).astype("float32"), rng.randint(0, 4, 7).astype("int32")
    nll, err, p = pytensor.function([x, y], [layer.negative_log_likelihood(y), layer.errors(y),
                                             layer.p_y_given_x], mode=MODE)(data, labels)
    np.testing.assert_allclose(nll, -np.mean(np.log(p[np.arange(7), labels])), rtol=1e-5)
    assert err == pytest.approx(np.mean(p.argmax(axis=1) != labels))
    assert err.dtype == np.float32


def test_negative_log_likelihood_stays_finite_when_softmax_underflows(rng):
    x, y, layer = _classifier(rng, n_in=1, n_out=2)
    layer.W.set_value(np.array([[200.0, -200.0]], "float32"))
    layer.b.set_value(np.zeros(2, "float32"))
    nll = pytensor.function([x, y], layer.negative_log_likelihood(y), mode=MODE)
    # P(y=1) = exp(-400) is 0 in float32; log_softmax still gives 400.
    assert nll(np.ones((1, 1), "float32"), np.array([1], "int32")) == pytest.approx(400, rel=1e-4)


def test_errors_rejects_labels_of_the_wrong_kind(rng):
    _, _, layer = _classifier(rng)
    with pytest.raises(TypeError, match="int vector"):
        layer.errors(pt.imatrix("y"))
    with pytest.raises(TypeError, match="integer class indices"):
        layer.errors(pt.vector("y"))
    with pytest.raises(TypeError, match="int vector"):
        layer.negative_log_likelihood(np.array([1, 2]))
