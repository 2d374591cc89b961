"""``theano.tensor.signal.pool`` (and ``downsample``): names only, for now.

PyTensor 3 has no pooling op; each function here raises
:class:`dae.theano.missing.TheanoAPIMissing` when called, so that code that
imports it still imports.
"""
from dae.theano.missing import missing

pool_2d = missing("theano.tensor.signal.pool.pool_2d")
pool_3d = missing("theano.tensor.signal.pool.pool_3d")
max_pool_2d_same_size = missing("theano.tensor.signal.pool.max_pool_2d_same_size")
max_pool_2d = missing("theano.tensor.signal.downsample.max_pool_2d")  # Theano < 0.9
