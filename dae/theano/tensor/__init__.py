"""``theano.tensor``: all of ``pytensor.tensor``, with Theano's ``nnet`` and random streams.

Every name of ``pytensor.tensor`` is here (``T.matrix``, ``T.dot``,
``T.switch``, ``T.grad``, ...). Theano's names that PyTensor moved are added:
``T.nnet`` (:mod:`dae.theano.tensor.nnet`), ``T.shared_randomstreams`` and
``T.signal`` (Theano's pooling, :mod:`dae.theano.tensor.signal`).
"""
import pytensor.tensor as _pytensor_tensor
from pytensor.tensor import *  # noqa: F401,F403

from dae.theano.tensor import nnet, shared_randomstreams, signal  # noqa: F401


def __getattr__(name):
    # the names ``import *`` leaves out (those starting with an underscore)
    return getattr(_pytensor_tensor, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_pytensor_tensor)))
