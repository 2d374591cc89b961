"""``theano.printing``: PyTensor's (``pp``, ``debugprint``, ``Print``, ``pydotprint``)."""
from pytensor.printing import *  # noqa: F401,F403
