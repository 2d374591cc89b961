"""Random streams: a seeded NumPy Generator in a shared variable.

PyTensor has no MRG_RandomStreams and deprecates RandomStream, so dae keeps the
Theano idiom with a small class of its own. Each draw reads the shared state and
yields the next one; :meth:`RandomStreams.updates` hands back the
``(state, next_state)`` pair that belongs in a function's ``updates``, so every
call draws fresh numbers and a seed reproduces a run exactly.

Draws are built from ``uniform`` and ``normal`` only (a binomial mask is
``uniform < p``): JAX mode then needs no numpyro, and the mask is cheaper.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.config import floatX


class RandomStreams:
    """Symbolic random numbers from ``numpy.random.default_rng(seed)``.

    Consecutive draws in one graph are chained (each uses the state the previous
    one left), and :meth:`updates` returns the pair that advances the shared
    state past all of them, then starts a new chain for the next graph.
    """

    def __init__(self, seed=None):
        self.state = pytensor.shared(np.random.default_rng(seed), name="rng")
        self._cursor = self.state

    def _draw(self, pair):
        self._cursor, value = pair
        return value

    def uniform(self, size, low=0.0, high=1.0, dtype=None):
        dtype = dtype or floatX()
        low, high = np.asarray(low, dtype), np.asarray(high, dtype)
        return self._draw(pt.random.uniform(low, high, size=size, rng=self._cursor, dtype=dtype,
                                          return_next_rng=True))

    def normal(self, size, avg=0.0, std=1.0, dtype=None):
        dtype = dtype or floatX()
        avg, std = np.asarray(avg, dtype), np.asarray(std, dtype)
        return self._draw(pt.random.normal(avg, std, size=size, rng=self._cursor, dtype=dtype,
                                          return_next_rng=True))

    def binomial(self, size, n=1, p=0.5, dtype=None):
        """Bernoulli draws (``n=1`` only) as ``uniform < p``, cast to ``dtype``."""
        if n != 1:
            raise ValueError(f"binomial supports n=1 (Bernoulli) only, got n={n}")
        dtype = dtype or floatX()
        u = self.uniform(size, dtype=floatX())
        return pt.cast(pt.lt(u, pt.cast(p, floatX())), dtype)

    def updates(self):
        """``[(state, next_state)]`` for the draws made since the last call."""
        if self._cursor is self.state:
            return []
        pair = [(self.state, self._cursor)]
        self._cursor = self.state
        return pair

    def get_state(self):
        """The generator's state as a JSON-able dict (for checkpoints)."""
        return self.state.get_value(borrow=True).bit_generator.state

    def set_state(self, state):
        gen = np.random.default_rng()
        gen.bit_generator.state = state
        self.state.set_value(gen, borrow=True)


def as_random_streams(theano_rng, numpy_rng):
    """Accept what the tutorials pass as ``theano_rng``.

    ``None`` seeds a stream from ``numpy_rng`` as the tutorials do
    (``numpy_rng.randint(2 ** 30)``); an int is a seed; a :class:`RandomStreams`
    is used as is (layers of an SdA share one).
    """
    if theano_rng is None:
        return RandomStreams(random_seed(numpy_rng))
    if isinstance(theano_rng, RandomStreams):
        return theano_rng
    if isinstance(theano_rng, (int, np.integer)):
        return RandomStreams(int(theano_rng))
    raise TypeError(
        f"theano_rng must be None, an int seed or dae.random.RandomStreams, got "
        f"{type(theano_rng).__name__}; use dae.random.RandomStreams(seed) where the "
        "tutorial used theano's RandomStreams"
    )


def random_seed(numpy_rng):
    """A seed in [0, 2**30) drawn from a RandomState or a Generator."""
    if hasattr(numpy_rng, "randint"):
        return int(numpy_rng.randint(2**30))
    return int(numpy_rng.integers(2**30))
