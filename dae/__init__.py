"""dae: the classic autoencoders of the deeplearning.net tutorials, on PyTensor.

Importing dae sets PyTensor's ``floatX`` to float32 and its compile mode to Numba
unless you chose them yourself (see :mod:`dae.config`), so tutorial code that
declares ``x = T.matrix('x')`` and calls ``theano.function`` runs as written
once ``theano`` reads ``pytensor``.
"""
from dae import config as _config

_config._configure_on_import()

__version__ = "0.1.0"


def load(path):
    """The model saved in ``path`` by ``model.save`` or the dae command (see :mod:`dae.io`)."""
    from dae import io  # imported here so that ``import dae`` stays cheap
    return io.load(path)
