"""Theano's names on PyTensor and dae: run Theano-era code (the deeplearning.net tutorials) unchanged.

``dae.theano.install()`` makes ``import theano`` give this package in the
running process; ``dae.theano.run_script(path, argv)`` runs a Theano script as
``__main__`` on it (``dae theano SCRIPT`` on the command line).

=========================================  ==============================================
Theano                                     here
=========================================  ==============================================
``theano.config`` (floatX, device, ...)    :mod:`dae.theano.settings`
``shared``, ``function``, ``In``, ``Out``  :mod:`dae.theano.compile`
``grad``, ``clone``                        PyTensor's
``scan``                                   :mod:`dae.theano.scan_module` (streams' updates)
``theano.tensor`` (+ ``nnet``)             :mod:`dae.theano.tensor`
``theano.tensor.shared_randomstreams``     :mod:`dae.theano.streams`
``theano.sandbox.rng_mrg``                 :mod:`dae.theano.streams`
``printing``, ``ifelse``, ``gradient``     PyTensor's
``scalar``, ``Variable``, ``gof``          PyTensor's, under Theano's names
``scan_module``                            :mod:`dae.theano.scan_module`
``sandbox.cuda``, ``gpuarray``             a Theano without a GPU
=========================================  ==============================================

Theano functions PyTensor has no counterpart for (``conv2d``, ``pool_2d``) are
importable and fail when called, in one line naming the caller
(:mod:`dae.theano.missing`). Under :func:`install`, tensor variables are true
in ``if`` as in Theano, except a comparison's result (:mod:`dae.theano.compile`).

Importing it imports :mod:`dae`: floatX is float32 and dae's Numba mode the
compile mode unless the user chose otherwise (see :mod:`dae.config`).
"""
import dae  # noqa: F401  (float32 and dae's compile mode, as for all of dae)
from pytensor import Lop, Rop, grad, scalar  # noqa: F401
from pytensor.graph.replace import clone_replace as clone  # noqa: F401

from dae.theano import (gof, gpuarray, gradient, ifelse, printing, sandbox,  # noqa: F401
                        scan_module, tensor)
from dae.theano.compile import In, Out, function, shared  # noqa: F401
from dae.theano.gof import Variable  # noqa: F401
from dae.theano.scan_module import scan  # noqa: F401
from dae.theano.settings import config  # noqa: F401
from dae.theano.shim import (TheanoShadowedWarning, describe, install, installed,  # noqa: F401
                             run_script, uninstall)

__version__ = "1.0.5+dae"  # the Theano release whose API this follows
