"""dae.dA: the tutorial's dA class, drawn and trained as the tutorial's code draws and trains it.

The equations and the options every autoencoder shares are test_base.py's.
"""
import numpy as np
import pytensor
import pytest

from dae.config import get_mode
from dae.dA import dA
from dae.random import RandomStreams
from dae.train import compile_step, fit


def test_a_seed_draws_the_tutorials_stream_and_weights(tutorial_draws):
    """dA(RandomState(123)) seeds its stream, then draws W, as the tutorial's dA does."""
    seed, W = tutorial_draws(123, 784, 500, stream_first=True)
    da = dA(np.random.RandomState(123), n_visible=784, n_hidden=500)
    np.testing.assert_array_equal(da.W.get_value(), W)
    assert da.theano_rng.get_state() == RandomStreams(seed).get_state()


def test_tutorial_code_runs_with_only_imports_changed_and_trains_as_dae_does(mnist):
    """The tutorial's test_dA at corruption 30% (its code, on 1,000 digits for 3 epochs)
    against dae's own training path from the same seed: same costs, same weights, and a cost
    that falls on MNIST. Python mode, the mathematics: Numba's handling of the tutorial's
    givens slice is test_numba_mode's."""
    pytensor.config.mode = get_mode("py")  # what the tutorial's bare function compiles in
    # -- imports: the only lines that differ from the tutorial -----------------
    import pytensor as theano
    import pytensor.tensor as T
    from PIL import Image
    from dae.random import RandomStreams
    from dae.dA import dA
    from dae.utils import tile_raster_images
    # -- the tutorial's code -------------------------------------------------
    import numpy
    learning_rate, training_epochs, batch_size = 0.1, 3, 20
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
    # -- dae's path: the model as the experiment builds it, compile_step, fit --------------
    rng = np.random.RandomState(123)
    ours = dA(rng, theano_rng=RandomStreams(rng.randint(2**30)), n_hidden=500)
    step = compile_step({ours.x: pytensor.shared(mnist[0][0][:1000])}, 20,
                        *ours.get_cost_updates(0.3, 0.1), mode="py")
    costs = [r["cost"] for r in fit(step, step.n_steps, 3)]
    np.testing.assert_allclose(means, costs, rtol=1e-5)
    for theirs, mine in zip(da.params, ours.params):
        np.testing.assert_allclose(theirs.get_value(), mine.get_value(), rtol=1e-4, atol=1e-6)
    assert means[0] > means[1] > means[2] and means[2] < 0.8 * means[0], means
    assert image.size == (289, 289)
    assert not np.array_equal(da.W.get_value(), dA(np.random.RandomState(123)).W.get_value())


def test_repr_names_the_hyperparameters_that_rebuild_the_model():
    from dae.cA import cA
    from dae.sA import sA

    rng = np.random.RandomState(0)
    assert repr(dA(rng, n_visible=784, n_hidden=500)) == (
        "dA(n_visible=784, n_hidden=500, tied=True, corruption='mask', loss='cross_entropy', "
        "dtype='float32')")
    assert repr(cA(rng, n_visible=9, n_hidden=3)).startswith("cA(n_visible=9, n_hidden=3, ")
    assert repr(sA(rng, n_visible=9, n_hidden=3)).startswith("sA(n_visible=9, n_hidden=3, sparsity='kl', ")
