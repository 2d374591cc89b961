"""``theano.sandbox.cuda``: as in a Theano without a GPU (dae runs on the CPU).

Code that checks ``cuda_available``/``cuda_enabled`` before importing GPU ops
(Lasagne's cuDNN and cuda-convnet layers) skips them, as it did there.
"""
import types

cuda_available = False
cuda_enabled = False


def _dnn_available():
    return False


_dnn_available.msg = "dae.theano has no GPU backend, so no cuDNN"
#: ``from theano.sandbox.cuda import dnn``: cuDNN unavailable, as without a GPU (Lasagne's
#: ``lasagne.layers.dnn`` then raises its ImportError, as it did there)
dnn = types.SimpleNamespace(dnn_available=_dnn_available)


def use(device, *args, **kwargs):
    raise EnvironmentError(f"theano.sandbox.cuda.use({device!r}): dae.theano has no GPU backend")
