"""``theano.gradient``: PyTensor's (``grad``, ``jacobian``, ``hessian``, ``disconnected_grad``, ...)."""
from pytensor.gradient import *  # noqa: F401,F403
