"""``theano.sandbox``: ``rng_mrg``, and ``cuda`` as in a Theano without a GPU."""
from dae.theano.sandbox import cuda, rng_mrg  # noqa: F401
