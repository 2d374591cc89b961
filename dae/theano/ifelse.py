"""``theano.ifelse``: PyTensor's lazy ``ifelse``."""
from pytensor.ifelse import IfElse, ifelse  # noqa: F401
