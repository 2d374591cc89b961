"""``theano.gpuarray``: as in a Theano without a GPU (dae runs on the CPU).

Code that checks ``pygpu_activated`` before taking a GPU path (Lasagne) takes
its CPU path.
"""
pygpu_activated = False


def use(device, *args, **kwargs):
    raise ValueError(f"theano.gpuarray.use({device!r}): dae.theano has no GPU backend")
