"""dae.random: the random streams every corruption, binarization and VAE sample draws from.

Python mode: the draws' distributions are under test here, not a backend (the modes each
draw a fresh mask per step in test_config.py).
"""
import numpy as np
import pytensor
import pytest

from dae.config import get_mode
from dae.random import RandomStreams, as_random_streams, random_seed

MODE = get_mode("py")


def _function(streams, output):
    return pytensor.function([], output, updates=streams.updates(), mode=MODE)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.85])
def test_binomial_draws_ones_with_probability_p(p):
    streams = RandomStreams(1)
    draw = _function(streams, streams.binomial((400, 100), p=p))
    values = draw()
    assert set(np.unique(values)) <= {0.0, 1.0}
    # 40,000 draws: the fraction's standard deviation is at most 0.0025
    assert abs(values.mean() - p) < 0.01, values.mean()


def test_binomial_draws_afresh_at_every_call_and_a_seed_repeats_them():
    streams = RandomStreams(3)
    draw = _function(streams, streams.binomial((50, 20), p=0.5))
    first, second = draw(), draw()
    assert not np.array_equal(first, second)
    again = RandomStreams(3)
    replay = _function(again, again.binomial((50, 20), p=0.5))
    np.testing.assert_array_equal(replay(), first)
    np.testing.assert_array_equal(replay(), second)


@pytest.mark.parametrize("dtype, expected", [(None, "float32"), ("float64", "float64"),
                                             ("int8", "int8"), ("int64", "int64")])
def test_binomial_dtype_is_floatx_or_the_one_asked_for(dtype, expected):
    streams = RandomStreams(0)
    sample = streams.binomial((3, 4), p=0.3, dtype=dtype)
    assert sample.dtype == expected
    assert _function(streams, sample)().dtype == np.dtype(expected)


def test_binomial_takes_a_symbolic_p():
    streams = RandomStreams(0)
    p = pytensor.shared(np.float32(0.2))
    draw = _function(streams, streams.binomial((200, 100), p=p))
    assert abs(draw().mean() - 0.2) < 0.01
    p.set_value(np.float32(0.7))
    assert abs(draw().mean() - 0.7) < 0.01


def test_binomial_is_bernoulli_only():
    with pytest.raises(ValueError, match="n=1 .Bernoulli. only, got n=3"):
        RandomStreams(0).binomial((2,), n=3)


def test_uniform_and_normal_have_their_moments_and_dtype():
    streams = RandomStreams(5)
    u = streams.uniform((200, 100), low=-1.0, high=3.0)
    z = streams.normal((200, 100), avg=2.0, std=0.5, dtype="float64")
    u_value, z_value = _function(streams, [u, z])()
    assert u_value.dtype == np.float32 and z_value.dtype == np.float64
    assert u_value.min() >= -1 and u_value.max() < 3 and abs(u_value.mean() - 1) < 0.03
    assert abs(z_value.mean() - 2) < 0.01 and abs(z_value.std() - 0.5) < 0.01


def test_draws_in_one_graph_are_chained_not_repeated():
    """Two draws of one shape in one graph use successive states: they differ."""
    streams = RandomStreams(0)
    a, b = _function(streams, [streams.uniform((10,)), streams.uniform((10,))])()
    assert not np.array_equal(a, b)


def test_updates_is_empty_without_draws_and_starts_a_new_chain():
    streams = RandomStreams(0)
    assert streams.updates() == []
    streams.uniform((2,))
    [(state, _)] = streams.updates()
    assert state is streams.state and streams.updates() == []


def test_state_round_trips_and_replays_the_same_draws():
    streams = RandomStreams(9)
    draw = _function(streams, streams.uniform((5,)))
    draw()
    state = streams.get_state()
    expected = [draw(), draw()]
    streams.set_state(state)
    for want in expected:
        np.testing.assert_array_equal(draw(), want)


def test_as_random_streams_accepts_what_the_tutorials_pass():
    rng = np.random.RandomState(123)
    seed = np.random.RandomState(123).randint(2**30)  # the tutorials' RandomStreams(rng.randint(2 ** 30))
    from_rng = as_random_streams(None, rng)
    from_seed = as_random_streams(int(seed), None)
    a, b = (_function(s, s.uniform((4,)))() for s in (from_rng, from_seed))
    np.testing.assert_array_equal(a, b)
    shared = RandomStreams(0)
    assert as_random_streams(shared, rng) is shared
    with pytest.raises(TypeError, match="dae.random.RandomStreams"):
        as_random_streams("seed", rng)
    assert 0 <= random_seed(np.random.default_rng(0)) < 2**30
