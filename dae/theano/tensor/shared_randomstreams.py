"""``theano.tensor.shared_randomstreams``: Theano's ``RandomStreams``.

See :mod:`dae.theano.streams`: draws advance on every call of a function
compiled with :func:`dae.theano.function`, without listing them in updates.
"""
from dae.theano.streams import RandomStreams  # noqa: F401

__all__ = ["RandomStreams"]
