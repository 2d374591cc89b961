import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.dA import dA
from dae.random import RandomStreams
from dae.train import compile_step, fit


def _tiny_data(n=64, d=12, seed=0):
    return (np.random.default_rng(seed).random((n, d)) > 0.5).astype("float32")


def test_import_sets_float32_and_tutorial_matrix_is_float32():
    assert pytensor.config.floatX == "float32"
    assert pt.matrix("x").dtype == "float32"


def test_explicit_floatx_is_respected():
    code = "import dae, pytensor; print(pytensor.config.floatX)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTENSOR_FLAGS": "floatX=float64", "PATH": ""}, check=True)
    assert out.stdout.strip() == "float64"


def test_parameters_follow_the_tutorial(rng):
    da = dA(rng, n_visible=30, n_hidden=20)
    W = da.W.get_value()
    bound = 4 * np.sqrt(6 / 50)
    assert W.shape == (30, 20) and W.dtype == np.float32
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.8 * bound
    assert not da.b.get_value().any() and not da.b_prime.get_value().any()
    assert da.params == [da.W, da.b, da.b_prime]


def test_gradient_matches_finite_differences(rng, check_gradients):
    """Cost (5) at corruption 0 against central differences, in float64."""
    da = dA(rng, n_visible=6, n_hidden=4, dtype="float64")
    cost, _ = da.get_cost(0.0)
    f = pytensor.function([da.x], [cost] + pytensor.grad(cost, da.params), mode="FAST_COMPILE")
    check_gradients(f, da.params, _tiny_data(5, 6).astype("float64"))


def test_cross_entropy_is_finite_for_saturated_units(rng):
    da = dA(rng, n_visible=4, n_hidden=3)
    da.b_prime.set_value(np.array([80, -80, 80, -80], dtype="float32"))
    cost, _ = da.get_cost(0.0)
    value = pytensor.function([da.x], cost)(np.array([[0, 1, 1, 0]], dtype="float32"))
    assert np.isfinite(value) and value > 100  # the tutorial's log form gives inf here


@pytest.mark.parametrize("level", [0.1, 0.3, 0.75])
def test_masking_drops_the_requested_fraction(rng, level):
    da = dA(rng, n_visible=100, n_hidden=5)
    f = pytensor.function([da.x], da.get_corrupted_input(da.x, level))
    out = f(np.ones((200, 100), dtype="float32"))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs((out == 0).mean() - level) < 0.01


def _train(seed, steps=30):
    data = pytensor.shared(_tiny_data(60, 12))
    rng = np.random.RandomState(seed)
    da = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_visible=12, n_hidden=5)
    cost, updates = da.get_cost_updates(0.3, 0.1)
    step = compile_step({da.x: data}, 10, cost, updates)
    for i in range(steps):
        step(i % 6)
    return [p.get_value() for p in da.params]


def test_seed_reproduces_and_different_seed_differs():
    a, b, c = _train(7), _train(7), _train(8)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    assert any(not np.array_equal(pa, pc) for pa, pc in zip(a, c))


def test_each_call_draws_a_fresh_mask(rng):
    da = dA(rng, n_visible=50, n_hidden=5)
    corrupted = da.get_corrupted_input(da.x, 0.5)
    f = pytensor.function([da.x], corrupted, updates=da.theano_rng.updates())
    ones = np.ones((4, 50), dtype="float32")
    assert not np.array_equal(f(ones), f(ones))


def test_passed_parameters_are_shared(rng):
    first = dA(rng, n_visible=8, n_hidden=3)
    second = dA(rng, n_visible=8, n_hidden=3, W=first.W, bhid=first.b)
    assert second.W is first.W and second.b is first.b and second.b_prime is not first.b_prime
    with pytest.raises(ValueError, match="shape"):
        dA(rng, n_visible=9, n_hidden=3, W=first.W)


def test_no_float64_in_compiled_training_graph(rng):
    data = pytensor.shared(_tiny_data(40, 12))
    for level in (0.0, 0.3):
        da = dA(rng, n_visible=12, n_hidden=5)
        cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=0.1)
        step = compile_step({da.x: data}, 10, cost, updates)
        float64 = [v for v in step.function.maker.fgraph.variables
                   if getattr(v.type, "dtype", None) == "float64"]
        assert not float64, f"float64 variables in the graph: {float64}"


def test_cost_falls_on_mnist(mnist):
    x = pytensor.shared(mnist[0][0][:2000])
    rng = np.random.RandomState(123)
    da = dA(rng, n_hidden=100)
    cost, updates = da.get_cost_updates(0.3, 0.1)
    history = fit(compile_step({da.x: x}, 20, cost, updates), 100, 3)
    costs = [r["cost"] for r in history]
    assert costs[0] > costs[1] > costs[2], costs
    assert costs[-1] < 0.8 * costs[0]


def test_tutorial_snippet_runs_with_only_imports_changed(mnist, tmp_path):
    # -- imports: the only lines that differ from the tutorial -----------------
    import pytensor as theano
    import pytensor.tensor as T
    from PIL import Image
    from dae.random import RandomStreams
    from dae.dA import dA
    from dae.utils import tile_raster_images
    # -- the tutorial's code (on 1,000 examples, 2 epochs) -------------------
    import numpy
    learning_rate, training_epochs, batch_size = 0.1, 2, 20
    train_set_x = theano.shared(numpy.asarray(mnist[0][0][:1000], dtype=theano.config.floatX), borrow=True)
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    index = T.lscalar()
    x = T.matrix('x')
    rng = numpy.random.RandomState(123)
    theano_rng = RandomStreams(rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=28 * 28, n_hidden=500)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=learning_rate)
    train_da = theano.function([index], cost, updates=updates,
                               givens={x: train_set_x[index * batch_size: (index + 1) * batch_size]})
    means = []
    for epoch in range(training_epochs):
        c = []
        for batch_index in range(n_train_batches):
            c.append(train_da(batch_index))
        means.append(numpy.mean(c, dtype='float64'))
    image = Image.fromarray(tile_raster_images(X=da.W.get_value(borrow=True).T, img_shape=(28, 28),
                                               tile_shape=(10, 10), tile_spacing=(1, 1)))
    image.save(tmp_path / "filters_corruption_30.png")
    assert image.size == (289, 289)
    assert means[1] < means[0]


def test_repr_names_the_hyperparameters_that_rebuild_the_model():
    from dae.cA import cA
    from dae.sA import sA

    rng = np.random.RandomState(0)
    assert repr(dA(rng, n_visible=784, n_hidden=500)) == (
        "dA(n_visible=784, n_hidden=500, tied=True, corruption='mask', loss='cross_entropy', "
        "dtype='float32')")
    assert repr(cA(rng, n_visible=9, n_hidden=3)).startswith("cA(n_visible=9, n_hidden=3, ")
    assert repr(sA(rng, n_visible=9, n_hidden=3)).endswith("sparsity='kl')")
