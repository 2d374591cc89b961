import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import jacobian

from dae.config import get_mode
from dae.cA import cA
from dae.random import RandomStreams
from dae.train import compile_step, fit


def _function(inputs, outputs):
    return pytensor.function(inputs, outputs, mode=get_mode("py"))


def test_penalty_equals_the_jacobian_from_autodiff(rng):
    """Eq. (5) and get_jacobian against pytensor.gradient.jacobian, example by example."""
    ca = cA(rng, n_visible=7, n_hidden=5, dtype="float64")
    ca.b.set_value(rng.normal(size=5))
    x_row = pt.vector("x_row", dtype="float64")
    autodiff = _function([x_row], jacobian(ca.get_hidden_values(x_row[None, :])[0], x_row,
                                                 vectorize=True))
    hidden = ca.get_hidden_values(ca.x)
    f = _function([ca.x], [ca.jacobian_norm_sq(hidden), ca.get_jacobian(hidden, ca.W)])
    x = rng.normal(size=(4, 7))
    norms, tensor = f(x)
    assert tensor.shape == (4, 7, 5)
    for k in range(4):
        J = autodiff(x[k])  # (n_hidden, n_visible): d y_j / d x_i
        np.testing.assert_allclose(tensor[k], J.T, rtol=1e-10)
        np.testing.assert_allclose(norms[k], np.sum(J**2), rtol=1e-10)


def test_cost_is_mean_reconstruction_plus_level_times_mean_squared_norm(rng):
    ca = cA(rng, n_visible=6, n_hidden=4, dtype="float64")
    x = rng.random_sample((5, 6))
    level = 0.7
    cost, _ = ca.get_cost_updates(contraction_level=level, learning_rate=0.1)
    got, rec, jac = _function([ca.x], [cost, pt.mean(ca.L_rec), ca.L_jacob])(x)
    W, b, c = ca.W.get_value(), ca.b.get_value(), ca.b_prime.get_value()
    y = 1 / (1 + np.exp(-(x @ W + b)))
    z = 1 / (1 + np.exp(-(y @ W.T + c)))
    numpy_rec = -np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1).mean()
    # Not floored: the tutorial's `// n_batchsize` made this an integer.
    numpy_jac = np.mean([np.sum((W * (y[k] * (1 - y[k]))) ** 2) for k in range(5)])
    np.testing.assert_allclose([rec, jac], [numpy_rec, numpy_jac], rtol=1e-10)
    np.testing.assert_allclose(got, numpy_rec + level * numpy_jac, rtol=1e-10)
    # dae's penalty is not floored: the tutorial's `T.sum(J ** 2) // n_batchsize` makes it
    # (and L_jacob) a whole number
    penalty = got - rec
    assert jac != np.floor(jac) and penalty == pytest.approx(level * jac, rel=1e-10), (jac, penalty)


def test_contraction_moves_the_weights(rng):
    """The penalty has a gradient (the tutorial's floored one had none)."""
    ca = cA(rng, n_visible=6, n_hidden=4, dtype="float64")
    penalty = ca.penalty(ca.x, ca.get_hidden_values(ca.x), contraction_level=1.0)
    grad = _function([ca.x], pytensor.grad(penalty, ca.W))(rng.random_sample((3, 6)))
    assert np.abs(grad).max() > 1e-3


def test_graph_does_not_fix_the_batch_size(rng):
    """25 rows in minibatches of 10: the last has 5 rows; n_batchsize is not baked in."""
    data = pytensor.shared(rng.random_sample((25, 12)).astype("float32"))
    ca = cA(rng, n_visible=12, n_hidden=5, n_batchsize=10)
    cost, updates = ca.get_cost_updates(contraction_level=0.1, learning_rate=0.01)
    step = compile_step({ca.x: data}, 10, [cost, ca.L_jacob], updates, mode="py")
    assert step.n_steps == 3
    costs = [step(i) for i in range(3)]
    assert np.all(np.isfinite(costs))
    jacobian_3d = _function([ca.x], ca.get_jacobian(ca.get_hidden_values(ca.x), ca.W))
    assert jacobian_3d(data.get_value()[:5]).shape == (5, 12, 5)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_contraction_level_is_refused(rng, bad):
    ca = cA(rng, n_visible=6, n_hidden=4)
    with pytest.raises(ValueError, match="contraction_level"):
        ca.get_cost_updates(contraction_level=bad, learning_rate=0.1)


def test_bad_batchsize_is_refused(rng):
    with pytest.raises(ValueError, match="n_batchsize"):
        cA(rng, n_visible=6, n_hidden=4, n_batchsize=0)


def test_contraction_shrinks_the_jacobian_on_mnist(mnist):
    """Same data, start and steps: contraction 1.0 leaves a smaller mean ||J||_F than 0.0."""
    x = pytensor.shared(mnist[0][0][:1000])
    ca = cA(np.random.RandomState(123), n_hidden=50)
    start = [p.get_value() for p in ca.params]
    level = pytensor.shared(np.float32(0), name="level")  # one graph, compiled once
    cost, hidden = ca.get_cost(contraction_level=level)
    step = compile_step({ca.x: x}, 20, pt.mean(pt.sqrt(ca.jacobian_norm_sq(hidden))),
                        ca.updates_for(cost, 0.05), mode="py")
    norms = []
    for value in (0.0, 1.0):
        level.set_value(np.float32(value))
        for p, v in zip(ca.params, start):
            p.set_value(v)
        norms.append(fit(step, step.n_steps, 2)[-1]["cost"])
    assert norms[1] < 0.8 * norms[0], norms


def test_a_seed_draws_the_tutorials_weights(tutorial_draws):
    """cA(RandomState(123)) draws W first, as the tutorial's cA (which has no random stream)
    does; the stream dae adds is seeded from the next draw."""
    seed, W = tutorial_draws(123, 784, 500, stream_first=False)
    ca = cA(numpy_rng=np.random.RandomState(123), n_visible=784, n_hidden=500, n_batchsize=10)
    np.testing.assert_array_equal(ca.W.get_value(), W)
    assert ca.theano_rng.get_state() == RandomStreams(seed).get_state()


def test_tutorial_code_runs_with_only_imports_changed_and_trains_as_dae_does(mnist, capsys):
    """The tutorial's test_cA as written, epoch line included (on 500 digits, 2 epochs),
    against dae's own path from the same seed: same weights, and the printed numbers are what
    that line computes (the first two minibatches' rows: see README). Python mode, the
    mathematics: Numba's handling of the tutorial's givens slice is test_numba_mode's."""
    pytensor.config.mode = get_mode("py")  # what the tutorial's bare function compiles in
    # -- imports: the only lines that differ from the tutorial -----------------
    import pytensor as theano
    import pytensor.tensor as T
    from PIL import Image
    from dae.cA import cA
    from dae.utils import tile_raster_images
    # -- the tutorial's test_cA, unchanged ---------------------------------------
    import numpy
    learning_rate, training_epochs, batch_size, contraction_level = 0.01, 2, 10, .1
    train_set_x = theano.shared(numpy.asarray(mnist[0][0][:500], dtype=theano.config.floatX), borrow=True)
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    index = T.lscalar()    # index to a [mini]batch
    x = T.matrix('x')  # the data is presented as rasterized images
    rng = numpy.random.RandomState(123)
    ca = cA(numpy_rng=rng, input=x,
            n_visible=28 * 28, n_hidden=500, n_batchsize=batch_size)
    cost, updates = ca.get_cost_updates(contraction_level=contraction_level,
                                        learning_rate=learning_rate)
    train_ca = theano.function(
        [index],
        [T.mean(ca.L_rec), ca.L_jacob],
        updates=updates,
        givens={
            x: train_set_x[index * batch_size: (index + 1) * batch_size]
        }
    )
    for epoch in range(training_epochs):
        c = []
        for batch_index in range(n_train_batches):
            c.append(train_ca(batch_index))

        c_array = numpy.vstack(c)
        print('Training epoch %d, reconstruction cost ' % epoch, numpy.mean(
            c_array[0]), ' jacobian norm ', numpy.mean(numpy.sqrt(c_array[1])))
    image = Image.fromarray(tile_raster_images(
        X=ca.W.get_value(borrow=True).T,
        img_shape=(28, 28), tile_shape=(10, 10),
        tile_spacing=(1, 1)))
    # -- dae's path from the same seed -------------------------------------------------------
    ours = cA(np.random.RandomState(123), n_hidden=500)
    cost, updates = ours.get_cost_updates(contraction_level=0.1, learning_rate=0.01)
    step = compile_step({ours.x: pytensor.shared(mnist[0][0][:500])}, 10,
                        [pt.mean(ours.L_rec), ours.L_jacob], updates, "py")
    printed = [line.split() for line in capsys.readouterr().out.splitlines()]
    for epoch in range(2):
        rows = np.vstack([step(i) for i in range(step.n_steps)])
        words = printed[epoch]
        assert words[:5] == ["Training", "epoch", str(epoch) + ",", "reconstruction", "cost"], words
        np.testing.assert_allclose([float(words[5]), float(words[8])],
                                   [rows[0].mean(), np.sqrt(rows[1]).mean()], rtol=1e-4)
    for theirs, mine in zip(ca.params, ours.params):
        np.testing.assert_allclose(theirs.get_value(), mine.get_value(), rtol=1e-4, atol=1e-6)
    assert image.size == (289, 289)
