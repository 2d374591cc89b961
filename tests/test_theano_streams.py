"""dae.theano's random streams under Theano's rules (issue 18, item 1).

A compiled function advances exactly the generators whose draws it computes,
between its inputs and its outputs; scan returns the next states of the draws
in its step; ``no_default_updates`` is True or a list; a seed fixes every draw.
"""
import numpy as np
import pytest
from pytensor.link.numba.linker import NumbaLinker

import dae.theano as theano
import dae.theano.tensor as T
from dae.config import get_mode
from dae.theano.sandbox.rng_mrg import MRG_RandomStreams
from dae.theano.tensor.shared_randomstreams import RandomStreams

FLOATX = theano.config.floatX
STREAMS = [RandomStreams, MRG_RandomStreams]


def state(generator):
    """A generator's state, to tell whether a call advanced it."""
    return generator.get_value(borrow=True).bit_generator.state


def vae_like(stream):
    """x -> z = x + eps (drawn) -> decoder(z) = tanh(z) + u (drawn), and the two generators."""
    x = T.matrix("x")
    z = x + stream.normal(size=x.shape)
    out = T.tanh(z) + stream.uniform(size=z.shape, low=0.0, high=1e-3)
    (eps_gen, _), (u_gen, _) = stream.updates()
    return x, z, out, eps_gen, u_gen


# -- cut graphs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("Stream", STREAMS)
def test_a_graph_cut_at_a_drawn_variable_draws_nothing_upstream(Stream):
    x, z, out, eps_gen, u_gen = vae_like(Stream(5))
    decode = theano.function([z], out)  # Theano cuts here: x is not needed
    before_eps, before_u = state(eps_gen), state(u_gen)
    zs = np.linspace(-2, 2, 6, dtype=FLOATX).reshape(2, 3)
    first, second = decode(zs), decode(zs)
    # the decoder itself is computed from the z given, plus its own small draw
    np.testing.assert_allclose(first, np.tanh(zs), atol=1.1e-3)
    assert (first >= np.tanh(zs) - 1e-6).all()
    assert state(eps_gen) == before_eps  # upstream: not advanced
    assert state(u_gen) != before_u and not np.array_equal(first, second)  # downstream: advanced


@pytest.mark.parametrize("Stream", STREAMS)
def test_the_uncut_graph_advances_both_generators(Stream):
    x, z, out, eps_gen, u_gen = vae_like(Stream(5))
    f = theano.function([x], out)
    before = state(eps_gen), state(u_gen)
    ones = np.ones((2, 3), FLOATX)
    a, b = f(ones), f(ones)
    assert state(eps_gen) != before[0] and state(u_gen) != before[1]
    assert not np.array_equal(a, b)


def test_givens_stop_the_walk_at_the_variable_they_replace():
    x, z, out, eps_gen, u_gen = vae_like(RandomStreams(9))
    y = T.matrix("y")
    f = theano.function([y], out, givens={z: 2 * y})
    before_eps = state(eps_gen)
    ys = np.full((2, 2), 0.25, FLOATX)
    np.testing.assert_allclose(f(ys), np.tanh(0.5), atol=1.1e-3)
    assert state(eps_gen) == before_eps


# -- scan ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("Stream", STREAMS)
def test_a_draw_inside_scan_is_in_scans_updates_and_advances_per_call(Stream):
    stream = Stream(11)
    v = T.vector("v")
    walk, updates = theano.scan(lambda a: a + stream.uniform(size=a.shape), outputs_info=[v],
                                n_steps=4)
    (generator, _), = stream.updates()  # drawn once, inside the step
    assert list(updates) == [generator]
    f = theano.function([v], walk, updates=updates)
    start = np.zeros(3, FLOATX)
    first, second = f(start), f(start)
    steps = np.diff(np.concatenate([start[None], first]), axis=0)
    assert first.shape == (4, 3) and (steps >= 0).all() and (steps < 1).all()
    assert len({tuple(s) for s in steps}) == 4  # a new draw at each step
    assert not np.array_equal(first, second)  # and the state after the last step is kept
    # without scan's updates the generator stays where it is, as in Theano
    frozen = theano.function([v], walk)
    np.testing.assert_array_equal(frozen(start), frozen(start))


def test_scan_keeps_the_steps_own_updates_and_the_draws_of_a_gibbs_chain():
    # rbm.py's shape: the step returns outputs and a draw; scan's updates are
    # then extended with parameter updates and passed to function
    stream = RandomStreams(3)
    counter = theano.shared(np.int64(0), name="counter")
    v = T.vector("v")

    def gibbs(a):
        mean = T.nnet.sigmoid(a)
        return [mean, stream.binomial(size=a.shape, n=1, p=mean, dtype=FLOATX)], \
            {counter: counter + 1}

    (means, samples), updates = theano.scan(gibbs, outputs_info=[None, v], n_steps=5)
    assert counter in updates and len(updates) == 2
    f = theano.function([v], samples[-1], updates=updates)
    runs = np.array([f(np.zeros(200, FLOATX)) for _ in range(2)])
    assert set(np.unique(runs)) <= {0.0, 1.0} and not np.array_equal(runs[0], runs[1])
    assert counter.get_value() == 10  # 5 steps a call


@pytest.mark.parametrize("mode", [None, "jax"])
def test_scan_with_a_stopping_condition_returns_its_draws_too(mode):
    """In JAX mode too: PyTensor's JAX backend converts no such scan, so the function runs in
    dae's Numba mode, with a warning."""
    stream = RandomStreams(4)
    total = T.scalar("total")

    def step(acc):
        acc = acc + stream.uniform(size=())
        return acc, theano.scan_module.scan_utils.until(acc > 2)

    sums, updates = theano.scan(step, outputs_info=[total], n_steps=100)
    if mode is None:
        f = theano.function([total], sums, updates=updates)
    else:
        pytest.importorskip("jax")
        with pytest.warns(UserWarning, match="JAX cannot run this function .*While Scan.*Numba mode"):
            f = theano.function([total], sums, updates=updates, mode=get_mode(mode))
        assert isinstance(f.maker.linker, NumbaLinker)
    a, b = f(np.asarray(0, FLOATX)), f(np.asarray(0, FLOATX))
    assert a[-1] > 2 and (a[:-1] <= 2).all() and not np.array_equal(a[:2], b[:2])


# -- no_default_updates -------------------------------------------------------------------------
def test_no_default_updates_true_advances_no_stream():
    x, z, out, eps_gen, u_gen = vae_like(RandomStreams(2))
    f = theano.function([x], out, no_default_updates=True)
    before = state(eps_gen), state(u_gen)
    ones = np.ones((2, 3), FLOATX)
    np.testing.assert_array_equal(f(ones), f(ones))
    assert (state(eps_gen), state(u_gen)) == before


def test_no_default_updates_as_a_list_leaves_out_those_generators_only():
    x, z, out, eps_gen, u_gen = vae_like(RandomStreams(2))
    f = theano.function([x], z, no_default_updates=[eps_gen])
    ones = np.ones((2, 3), FLOATX)
    np.testing.assert_array_equal(f(ones), f(ones))
    g = theano.function([x], out, no_default_updates=[eps_gen])
    before_eps, before_u = state(eps_gen), state(u_gen)
    g(ones)
    assert state(eps_gen) == before_eps and state(u_gen) != before_u


def test_no_default_updates_of_another_kind_is_one_clear_error():
    x, z, out, _, _ = vae_like(RandomStreams(2))
    with pytest.raises(TypeError, match="no_default_updates must be True, False or a list"):
        theano.function([x], out, no_default_updates="yes")


# -- reproducibility ----------------------------------------------------------------------------
@pytest.mark.parametrize("Stream", STREAMS)
def test_the_same_seed_gives_the_same_draws_call_after_call(Stream):
    def run(seed):
        stream = Stream(seed)
        v = T.vector("v")
        walk, updates = theano.scan(lambda a: a + stream.normal(size=a.shape),
                                    outputs_info=[v], n_steps=3)
        f = theano.function([v], [walk, stream.uniform(size=(4,))], updates=updates)
        return [np.concatenate([w.ravel(), u]) for w, u in (f(np.zeros(2, FLOATX))
                                                           for _ in range(3))]

    first, again, other = run(21), run(21), run(22)
    np.testing.assert_array_equal(np.array(first), np.array(again))
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(np.array(first), np.array(other))
