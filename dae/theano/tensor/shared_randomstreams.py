"""``theano.tensor.shared_randomstreams``: Theano's ``RandomStreams``.

See :mod:`dae.theano.streams`: a function compiled with
:func:`dae.theano.function` advances the generators of the draws it computes
on every call, without listing them in updates; :func:`dae.theano.scan`
returns those of the draws in its step.
"""
from dae.theano.streams import RandomStreams  # noqa: F401

__all__ = ["RandomStreams"]
