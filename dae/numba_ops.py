"""The ops :mod:`dae.numba_mode`'s rewrites put into a graph, apart from the rewrites and kernels.

:mod:`dae.numba_mode` (the rewrites and the linker) and :mod:`dae._numba_kernels`
(the ops' Numba code) both import this module, and it imports neither: the
linker imports the kernels, which need the ops, so the ops cannot live in either.
Nothing here imports Numba.
"""
from pathlib import Path

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor.elemwise
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.subtensor import Subtensor


# The fastmath flags dae's Numba mode compiles with: PyTensor's (``numba_njit``'s) but
# ``reassoc``. With it, LLVM regroups sums and products (``a * b * c`` of a fused
# loop, say) in whatever order suits the code around them, and the code Numba caches
# on disk then computes differently from the code it compiled and ran in the first
# process: a Numba-mode sA ended on other weights from empty caches than from warm
# ones (``tests/test_numba_mode.py``, ``benchmarks/README.md``). Without it a graph's
# numbers do not depend on what the cache held.
FASTMATH = frozenset({"arcp", "contract", "afn", "nsz"})


def fastmath():
    """What dae passes as Numba's ``fastmath``: :data:`FASTMATH`, or False where
    ``pytensor.config.numba__fastmath`` turns fastmath off (as PyTensor does)."""
    return set(FASTMATH) if pytensor.config.numba__fastmath else False


# Both scalar ops carry C code although dae runs them in Numba only: PyTensor's
# elementwise fusion fuses only scalar ops that have it.
class ExpNegAbs(ps.UnaryScalarOp):
    """``exp(-|x|)``, in (0, 1]: the term sigmoid and softplus share."""

    def impl(self, x):
        return np.exp(-np.abs(x))

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = exp(-fabs({inputs[0]}));"

    def c_code_cache_version(self):
        return (1,)


class Log1pUnit(ps.UnaryScalarOp):
    """``log1p(e)`` for ``e`` in [0, 1] (what :class:`ExpNegAbs` returns)."""

    def impl(self, e):
        return np.log1p(e)

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = log1p({inputs[0]});"

    def c_code_cache_version(self):
        return (1,)


exp_neg_abs = Elemwise(ExpNegAbs(ps.upgrade_to_float, name="exp_neg_abs"))
log1p_unit = Elemwise(Log1pUnit(ps.upgrade_to_float, name="log1p_unit"))


class ContiguousExpandDims(DimShuffle):
    """A DimShuffle that only inserts broadcastable axes, contiguous for Numba.

    PyTensor's Numba kernel for every DimShuffle is an ``as_strided`` view,
    which Numba types as arbitrarily strided; an elementwise loop reading a
    bias ``b[None, :]`` through it is not vectorized (``sigmoid(x W + b)`` ran
    10 times slower than ``sigmoid(x W + B)`` with a full matrix B). This one is
    a reshape of a contiguous array (a view unless the input is strided).
    """

    # ExternalCOp reads the C file relative to the class's module: point at PyTensor's.
    c_func_file = str(Path(pytensor.tensor.elemwise.__file__).parent / DimShuffle.c_func_file)


class ContiguousRowSlice(Subtensor):
    """``x[start:stop]`` along the first axis, contiguous for Numba when x is.

    The tutorials cut each minibatch inside the graph,
    ``givens={x: data[i * b:(i + 1) * b]}``. PyTensor's Numba kernel indexes
    with ``x[slice(start, stop, None)]``, which Numba types as arbitrarily
    strided even on a C-contiguous x, so no elementwise loop reading the
    minibatch is vectorized (the dA's epoch cost 1.17 times the minibatch
    passed in as an input). ``x[start:stop]`` keeps x's layout.
    """
