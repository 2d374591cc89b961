"""``theano.tensor``: all of ``pytensor.tensor``, with Theano's ``nnet`` and random streams.

Every name of ``pytensor.tensor`` is here (``T.matrix``, ``T.dot``,
``T.switch``, ``T.grad``, ...). Theano's names that PyTensor moved are added:
``T.nnet`` (:mod:`dae.theano.tensor.nnet`), ``T.shared_randomstreams`` and
``T.signal`` (Theano's pooling, :mod:`dae.theano.tensor.signal`).
``T.TensorVariable`` is Theano's class: a shared variable or a constant is
not one (:class:`TensorVariable`).
"""
import pytensor.tensor as _pytensor_tensor
from pytensor.compile.sharedvalue import SharedVariable as _SharedVariable
from pytensor.graph.basic import Constant as _Constant
from pytensor.tensor import *  # noqa: F401,F403

from dae.theano.gof.graph import TheanoClass as _TheanoClass
from dae.theano.tensor import nnet, shared_randomstreams, signal  # noqa: F401


class TensorVariable(metaclass=_TheanoClass):
    """Theano's ``TensorVariable``: PyTensor's, less its shared variables and constants.

    Theano's ``TensorSharedVariable`` and ``TensorConstant`` were not
    subclasses of it, and code tells a symbolic expression from a parameter
    that way: Lasagne 0.1's recurrent layers use a ``hid_init`` that is a
    ``TensorVariable`` as the batch's initial state and repeat one that is
    shared over the batch.
    """

    pytensor_class, not_these = _pytensor_tensor.TensorVariable, (_SharedVariable, _Constant)

    def __new__(cls, type, owner=None, index=None, name=None):
        return cls.pytensor_class(type, owner, index=index, name=name)


def stack(*tensors, **kwargs):
    """Theano's ``stack``: ``stack([a, b], axis)``, and the old form ``stack(a, b, c)`` (the
    tensors themselves, along axis 0) that Theano still took and PyTensor refuses."""
    if tensors and isinstance(tensors[0], (list, tuple)):
        axis = tensors[1] if len(tensors) > 1 else kwargs.pop("axis", 0)
        tensors = tensors[0]
    else:
        axis = kwargs.pop("axis", 0)
    if kwargs:
        raise TypeError(f"stack() got unexpected keyword arguments {sorted(kwargs)}; it takes "
                        "the tensors (a list, or one by one) and axis")
    return _pytensor_tensor.stack(list(tensors), axis=axis)


def __getattr__(name):
    # the names ``import *`` leaves out (those starting with an underscore)
    return getattr(_pytensor_tensor, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_pytensor_tensor)))
