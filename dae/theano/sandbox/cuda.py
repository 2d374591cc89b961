"""``theano.sandbox.cuda``: as in a Theano without a GPU (dae runs on the CPU).

Code that checks ``cuda_available``/``cuda_enabled`` before importing GPU ops
(Lasagne's cuDNN and cuda-convnet layers) skips them, as it did there.
"""
cuda_available = False
cuda_enabled = False


def use(device, *args, **kwargs):
    raise EnvironmentError(f"theano.sandbox.cuda.use({device!r}): dae.theano has no GPU backend")
