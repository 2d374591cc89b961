"""``theano.tensor.signal``: ``pool`` and its old name ``downsample`` (PyTensor has neither)."""
from dae.theano.tensor.signal import pool  # noqa: F401

downsample = pool  # Theano < 0.9's name, still used by Lasagne 0.1
