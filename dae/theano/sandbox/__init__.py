"""``theano.sandbox``: only ``rng_mrg`` (Theano's GPU sandbox has no PyTensor counterpart)."""
from dae.theano.sandbox import rng_mrg  # noqa: F401
