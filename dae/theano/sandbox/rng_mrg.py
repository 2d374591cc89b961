"""``theano.sandbox.rng_mrg``: ``MRG_RandomStreams`` (see :mod:`dae.theano.streams`)."""
from dae.theano.streams import MRG_RandomStreams  # noqa: F401

__all__ = ["MRG_RandomStreams"]
