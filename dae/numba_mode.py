"""dae's Numba mode: PyTensor's NUMBA mode, made fast for training autoencoders.

PyTensor's Numba backend leaves seven costs in an autoencoder's training step
that the C backend (with BLAS) and JAX avoid. Each is fixed here; the
measurements are in ``benchmarks/README.md``.

1. **No BLAS rewrites.** The Numba linker excludes them, so the SGD update
   ``W - lr * (x~^T dh + da^T y)`` runs as two matrix products and then three
   passes over W. Here they run (``Dot22``, ``Dot22Scalar``, ``Gemm``): the
   update becomes two in-place ``gemm`` calls on W.
2. **Copied transposes.** PyTensor's transpose is an ``as_strided`` view that
   Numba types as non-contiguous, and Numba's ``np.dot`` copies such an operand
   before every product (``y W^T`` copies W). The kernels here hand any row- or
   column-major operand to BLAS with the right transpose flag instead.
3. **Strided broadcasts.** A bias ``b[None, :]`` reaches an elementwise loop
   as an arbitrarily strided view, and the loop is not vectorized; here it is
   a reshape of a contiguous array.
4. **Sigmoid and softplus.** PyTensor's Numba kernels compute them in float64,
   with branches and scalar libm calls: about 20 ns an element for the
   decoder's softplus-and-sigmoid, a quarter of a dA step. In float32 graphs
   they are rewritten into one form sharing ``e = exp(-|x|)``::

       sigmoid(x)  = (1 if x >= 0 else e) / (1 + e)
       softplus(x) = max(x, 0) + log1p(e)

   exact for every x (no overflow, no log(0)), with ``exp(-|x|)`` and
   ``log1p(e)`` kernels that LLVM vectorizes (well under 1 ns an element).
5. **Typing the random generator.** The compiled graph takes ``*args``, and
   Numba types an argument tuple holding a random generator in Python, on
   every call (see :meth:`BlasNumbaLinker.jit_compile`).
6. **BLAS threads.** On a busy machine OpenBLAS's extra threads wait for
   cores; dae's kernels run SciPy's OpenBLAS on one thread unless
   ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` says otherwise.
7. **Strided minibatches.** A minibatch cut inside the graph (the tutorials'
   ``givens={x: data[i * b:(i + 1) * b]}``) reaches every loop as an
   arbitrarily strided array; here a row slice keeps the data's layout
   (:class:`ContiguousRowSlice`).
8. **Numbers that depend on the cache.** PyTensor's fastmath flags include
   ``reassoc``, and with it the code Numba loaded from its disk cache computed
   other numbers than the code it had compiled (a Numba-mode sA ended on other
   weights from empty caches than from warm ones). dae compiles PyTensor's kernels
   and its own with :data:`dae.numba_ops.FASTMATH` (the same flags but that one)
   and caches them under keys of their own (:func:`_dae_fastmath`).

The graph, its dtypes and its random draws are otherwise PyTensor's. The ops
the rewrites put in the graph are in :mod:`dae.numba_ops`; their Numba kernels
live in :mod:`dae._numba_kernels`, imported on the first compile so that
``import dae`` does not import Numba. :func:`dae.config.get_mode` hands this
mode out for ``"numba"``.
"""
from contextlib import contextmanager
from threading import RLock

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.link.numba.linker import NumbaLinker
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.subtensor import Subtensor

# The ops live in a module of their own, which the kernels import too: this one
# imports the kernels (on the first compile), so they cannot import it back.
from dae.numba_ops import (FASTMATH, ContiguousExpandDims, ContiguousRowSlice, ExpNegAbs,  # noqa: F401
                           Log1pUnit, exp_neg_abs, log1p_unit)
from dae.numba_ops import fastmath as daes_fastmath


@node_rewriter([Elemwise])
def local_float32_sigmoid_softplus(fgraph, node):
    """sigmoid(x) -> (x >= 0 ? 1 : e) / (1 + e); softplus(x) -> max(x, 0) + log1p(e); e = exp(-|x|).

    float32 only: float64 graphs (gradient checks) keep PyTensor's kernels.
    """
    scalar_op = node.op.scalar_op
    if type(scalar_op) not in (ps.Sigmoid, ps.Softplus):
        return None
    [x] = node.inputs
    if x.type.dtype != "float32" or node.outputs[0].type.dtype != "float32":
        return None
    # Constants of x's rank, so that fusion inlines them in the loop.
    one, zero = (pt.constant(np.full((1,) * x.ndim, v, np.float32)) for v in (1, 0))
    e = exp_neg_abs(x)
    if type(scalar_op) is ps.Sigmoid:
        return [pt.switch(pt.ge(x, zero), one, e) / (one + e)]
    return [pt.maximum(x, zero) + log1p_unit(e)]


@node_rewriter([DimShuffle])
def local_contiguous_expand_dims(fgraph, node):
    if type(node.op) is DimShuffle and node.op.is_expand_dims:
        return [ContiguousExpandDims(input_ndim=node.op.input_ndim,
                                     new_order=node.op.new_order)(node.inputs[0])]
    return None


@node_rewriter([Subtensor])
def local_contiguous_row_slice(fgraph, node):
    if type(node.op) is not Subtensor or len(node.op.idx_list) != 1:
        return None
    [entry] = node.op.idx_list
    if not isinstance(entry, slice) or entry.step is not None:
        return None
    return [ContiguousRowSlice(node.op.idx_list)(*node.inputs)]


_COMPILING = RLock()
_FLAGS = "-".join(sorted(FASTMATH))


@contextmanager
def _dae_fastmath():
    """PyTensor's Numba kernels made, while it lasts, with dae's fastmath flags and cache keys.

    PyTensor's ``numba_njit`` picks its fastmath flags (``reassoc`` among them) when a
    kernel is made, and ``numba_funcify_ensure_cache`` gives each kernel a cache key
    from the op alone: both are looked up in PyTensor's module when called, so they are
    swapped here for the time of dae's compile (under a lock; PyTensor's own NUMBA mode
    keeps its flags and keys). The key's prefix keeps dae's kernels and PyTensor's apart
    in the disk cache they share.
    """
    from pytensor.link.numba.dispatch import basic

    with _COMPILING:
        if getattr(basic.numba_njit, "dae", False):  # already inside (an inner graph's compile)
            yield
            return
        njit, compile_src = basic.numba_njit, basic.compile_numba_function_src

        def numba_njit(*args, fastmath=None, **kwargs):
            return njit(*args, fastmath=daes_fastmath() if fastmath is None else fastmath, **kwargs)

        def compile_numba_function_src(*args, cache_key=None, **kwargs):
            if cache_key is not None:
                cache_key = f"dae_{_FLAGS}_{cache_key}"
            return compile_src(*args, cache_key=cache_key, **kwargs)

        numba_njit.dae = True
        basic.numba_njit, basic.compile_numba_function_src = numba_njit, compile_numba_function_src
        try:
            yield
        finally:
            basic.numba_njit, basic.compile_numba_function_src = njit, compile_src


class BlasNumbaLinker(NumbaLinker):
    """The Numba linker with PyTensor's BLAS rewrites allowed, and dae's kernels."""

    incompatible_rewrites = tuple(r for r in NumbaLinker.incompatible_rewrites if r != "BlasOpt")

    def fgraph_convert(self, fgraph, **kwargs):
        import dae._numba_kernels  # noqa: F401  (registers the kernels with PyTensor)
        from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

        # The graph's own function and cache key, without the ``*args`` wrapper
        # PyTensor adds for its cache: jit_compile caches the function itself.
        with _dae_fastmath():
            return numba_funcify_and_cache_key(fgraph, **kwargs)

    def jit_compile(self, fn_and_cache):
        """The graph's generated function, compiled once, as the final function.

        PyTensor compiles each graph as two nested functions (three with the
        named-argument wrapper dae once added), and each level runs LLVM over the
        whole graph's code again: a cold compile of a dA step took 1.5 times as
        long as this one (``benchmarks/README.md``). The generated function
        also takes one named argument per input where PyTensor's final one
        takes ``*args``, for which Numba types an argument tuple holding a
        random generator in Python on every call (20 us a call against 5 us,
        an eighth of a dA step at batch size 1).
        """
        from pytensor.link.numba.cache import compile_numba_function_src
        from pytensor.link.numba.dispatch import basic

        fn, cache_key = fn_and_cache
        py_func = fn.py_func
        source = getattr(py_func, "__source__", None)  # set by PyTensor's code generator
        with _dae_fastmath():
            if cache_key is None or source is None or not pytensor.config.numba__cache:
                return basic.numba_njit(py_func, final_function=True)
            cache_key = (f"dae_fgraph_v4_{_FLAGS}_{cache_key}"
                         f"_fastmath{int(pytensor.config.numba__fastmath)}")
            # Recompiled from its source so that PyTensor's cache locator finds it by
            # key; __name__ among the globals: Numba's cache rebuilds a function's
            # environment from it.
            cached = compile_numba_function_src(
                source, py_func.__name__, global_env={**py_func.__globals__, "__name__": __name__},
                cache_key=cache_key)
            return basic.numba_njit(cached, final_function=True, cache=True)


def _build():
    # Gemv and Ger (products with row or column vectors) have no kernel here;
    # excluding their rewrite leaves those products as Gemm, which handles them.
    query = RewriteDatabaseQuery(include=["fast_run", "numba"], exclude=["local_gemm_to_gemv"])
    sigmoid = in2out(local_float32_sigmoid_softplus, name="dae_float32_sigmoid_softplus")
    expand_dims = in2out(local_contiguous_expand_dims, name="dae_contiguous_expand_dims")
    row_slice = in2out(local_contiguous_row_slice, name="dae_contiguous_row_slice")
    # sigmoid at 40: after PyTensor's stability rewrites (1.5) and specialize (2),
    # so log(sigmoid(x)) has already become -softplus(-x); before fusion (48-49),
    # so sigmoid(a) and softplus(a) share one e in one loop. expand_dims after
    # fusion, before the destroy handler (49.5) and the inplace rewrites; the
    # row slice there too, once the subtensor rewrites have merged the slices.
    return Mode(BlasNumbaLinker(), query).register((sigmoid, 40), (expand_dims, 49.2),
                                                    (row_slice, 49.3))


_MODE = []


def mode():
    """dae's Numba mode (built once)."""
    if not _MODE:
        _MODE.append(_build())
    return _MODE[0]
