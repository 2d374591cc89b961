"""Numba kernels for :mod:`dae.numba_mode`'s ops (:mod:`dae.numba_ops`), registered with
PyTensor's Numba dispatch.

Imported by :class:`dae.numba_mode.BlasNumbaLinker` on its first compile.
Every kernel's cache key carries :data:`KERNEL_VERSION`: Numba's on-disk cache
is shared across processes and would keep serving a changed kernel's old code.
"""
import ctypes
import math
import os
from pathlib import Path

import numpy as np
import scipy
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic
from numba.np.arrayobj import make_array
from numba.np.linalg import ensure_blas, get_blas_kind
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key, register_funcify_and_cache_key
from pytensor.tensor.blas import Dot22, Dot22Scalar, Gemm
from pytensor.tensor.elemwise import CAReduce
from pytensor.tensor.math import Sum

from dae.numba_ops import ContiguousExpandDims, ContiguousRowSlice, ExpNegAbs, Log1pUnit, fastmath

KERNEL_VERSION = 8


def _njit(*args, **kwargs):
    """PyTensor's ``numba_njit`` with dae's fastmath flags (:data:`dae.numba_ops.FASTMATH`)."""
    kwargs.setdefault("fastmath", fastmath())
    return numba_basic.numba_njit(*args, **kwargs)


def _blas_single_thread():
    """Run SciPy's OpenBLAS (the BLAS Numba calls) on one thread, unless the user chose.

    A dA step's products are small (20 x 784 x 500): on this project's 2-core
    machine, shared with other jobs, OpenBLAS's second thread waits for a busy
    core and a 10,000-example epoch took 13 s instead of 1.1 s (NumPy's own
    OpenBLAS, not touched here, slows down the same way). Setting
    ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` keeps OpenBLAS's choice.
    A SciPy without its bundled OpenBLAS (conda's MKL, say) is left alone.
    """
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library first)

    libs = Path(scipy.__file__).resolve().parent.parent / "scipy.libs"
    for path in sorted(libs.glob("libscipy_openblas*")):
        setter = getattr(ctypes.CDLL(str(path)), "scipy_openblas_set_num_threads", None)
        if setter is not None:
            setter(1)


_blas_single_thread()


def _cache_key(name, node):
    dtypes = tuple(v.type.dtype for v in node.inputs + node.outputs)
    return f"dae._numba_kernels.{name}.v{KERNEL_VERSION}.{dtypes}"


# -- BLAS: Dot22, Dot22Scalar, Gemm -------------------------------------------------
def _blas_codegen(helper, kinds):
    """Codegen calling Numba's C helper ``helper`` (``numba_xxgemm`` or ``numba_xxgemv``:
    what Numba's ``np.dot`` calls, SciPy's BLAS underneath) with our alpha and beta.

    ``kinds`` has one letter per argument after the BLAS kind: ``f`` a flag
    (ord('n') or ord('t')), ``i`` an integer, ``s`` a scalar (passed by
    pointer), ``a`` an array (its data pointer).
    """
    def codegen(context, builder, sig, args):
        ensure_blas()
        dtype = next(t.dtype for t in sig.args if isinstance(t, types.Array))
        intp = context.get_value_type(types.intp)
        char, voidp = ir.IntType(8), cgutils.voidptr_t
        lltypes = {"f": char, "i": intp, "s": voidp, "a": voidp}
        fnty = ir.FunctionType(ir.IntType(32), [char] + [lltypes[k] for k in kinds])
        fn = cgutils.get_or_insert_function(builder.module, fnty, helper)
        values = [ir.Constant(char, ord(get_blas_kind(dtype)))]
        for kind, ty, arg in zip(kinds, sig.args, args):
            if kind in "fi":
                value = context.cast(builder, arg, ty, types.intp)
                values.append(builder.trunc(value, char) if kind == "f" else value)
            elif kind == "s":
                slot = cgutils.alloca_once_value(builder, context.cast(builder, arg, ty, dtype))
                values.append(builder.bitcast(slot, voidp))
            else:
                values.append(builder.bitcast(make_array(ty)(context, builder, arg).data, voidp))
        return builder.call(fn, values)

    return codegen


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major ``c <- alpha op(a) op(b) + beta c`` (BLAS ?gemm)."""
    sig = types.int32(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    return sig, _blas_codegen("numba_xxgemm", "ffiiisaiaisai")


@intrinsic
def _xxgemv(typingctx, trans, m, n, alpha, a, lda, x, beta, y):
    """Column-major ``y <- alpha op(a) x + beta y``, unit strides (BLAS ?gemv)."""
    sig = types.int32(trans, m, n, alpha, a, lda, x, beta, y)
    return sig, _blas_codegen("numba_xxgemv", "fiisaiasa")


_N, _T = ord("n"), ord("t")


@_njit(inline="always")
def _memory_order(a):
    """1 if the 2-D ``a`` is row-major in memory (rows may be padded), -1 if
    column-major, 0 if neither (then it must be copied before BLAS sees it)."""
    rows, cols = a.shape
    s0, s1 = a.strides
    item = a.itemsize
    if (cols <= 1 or s1 == item) and (rows <= 1 or s0 >= cols * item):
        return 1
    if (rows <= 1 or s0 == item) and (cols <= 1 or s1 >= rows * item):
        return -1
    return 0


@_njit(inline="always")
def _leading_dim(a, order):
    rows, cols = a.shape
    if order == 1:
        return max(a.strides[0] // a.itemsize, cols, 1) if rows > 1 else max(cols, 1)
    return max(a.strides[1] // a.itemsize, rows, 1) if cols > 1 else max(rows, 1)


@_njit
def gemm_into(alpha, x, y, beta, out):
    """``out <- alpha x @ y + beta out``; ``out`` C-contiguous, x and y any 2-D layout.

    beta = 0 ignores what ``out`` holds (NaN included), as BLAS does.
    """
    m, k = x.shape
    n = y.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        if beta == 0:
            out[...] = 0
        else:
            out *= beta
        return
    x_order = _memory_order(x)
    if x_order == 0:
        x = np.ascontiguousarray(x)
        x_order = 1
    y_order = _memory_order(y)
    if y_order == 0:
        y = np.ascontiguousarray(y)
        y_order = 1
    x_ld, y_ld = _leading_dim(x, x_order), _leading_dim(y, y_order)
    # BLAS is column-major: the row-major out is out^T = y^T x^T to it, and a
    # row-major matrix is its transpose. A product with a single row or column
    # goes to gemv, as in Numba's np.dot: gemm was 8 times slower for a
    # (1, 784) @ (784, 500) here.
    if m == 1 and (k == 1 or x.strides[1] == x.itemsize):
        if y_order == 1:
            _xxgemv(_N, n, k, alpha, y, y_ld, x, beta, out)
        else:
            _xxgemv(_T, k, n, alpha, y, y_ld, x, beta, out)
    elif n == 1 and (k == 1 or y.strides[0] == y.itemsize):
        if x_order == 1:
            _xxgemv(_T, k, m, alpha, x, x_ld, y, beta, out)
        else:
            _xxgemv(_N, m, k, alpha, x, x_ld, y, beta, out)
    elif y_order == -1 and beta == 0:
        # y column-major (a transposed weight matrix, as in y W^T): the formula
        # above makes BLAS pack all of y transposed, its slowest copy. Computing
        # the column-major result (m, n) and copying it over costs less: 218 ->
        # 168 us for (20, 500) @ (500, 784), 15% of a dA step.
        result = np.empty((n, m), dtype=out.dtype)  # result.T is column-major (m, n)
        _xxgemm(_T if x_order == 1 else _N, _N, m, n, k, alpha, x, x_ld, y, y_ld, beta, result, m)
        # A loop, not out[...] = result.T: Numba compiles a slice assignment with its
        # shape-mismatch message, whose string formatting was 6 s of a dA's cold compile.
        for i in range(m):
            for j in range(n):
                out[i, j] = result[j, i]
    else:
        _xxgemm(_N if y_order == 1 else _T, _N if x_order == 1 else _T, n, m, k,
                alpha, y, y_ld, x, x_ld, beta, out, max(n, 1))


@register_funcify_and_cache_key(Dot22)
def _numba_dot22(op, node, **kwargs):
    dtype = node.outputs[0].type.numpy_dtype
    one, zero = dtype.type(1), dtype.type(0)

    @_njit
    def dot22(x, y):
        out = np.empty((x.shape[0], y.shape[1]), dtype=dtype)
        gemm_into(one, x, y, zero, out)
        return out

    return dot22, _cache_key("Dot22", node)


@register_funcify_and_cache_key(Dot22Scalar)
def _numba_dot22scalar(op, node, **kwargs):
    dtype = node.outputs[0].type.numpy_dtype
    zero = dtype.type(0)

    @_njit
    def dot22scalar(x, y, a):
        out = np.empty((x.shape[0], y.shape[1]), dtype=dtype)
        gemm_into(dtype.type(a[()]), x, y, zero, out)
        return out

    return dot22scalar, _cache_key("Dot22Scalar", node)


@register_funcify_and_cache_key(Gemm)
def _numba_gemm(op, node, **kwargs):
    dtype = node.outputs[0].type.numpy_dtype
    inplace = op.inplace

    @_njit
    def gemm(z, a, x, y, b):
        m, n = x.shape[0], y.shape[1]
        if inplace and z.shape == (m, n) and (m <= 1 or z.strides[0] == n * z.itemsize) \
                and (n <= 1 or z.strides[1] == z.itemsize):
            out = z  # the parameter update, in place: one pass over W
        else:
            out = np.empty((m, n), dtype=dtype)
            # z may broadcast (a row or a column), as in Gemm.perform; a loop, as in gemm_into
            rows, cols = z.shape[0] > 1, z.shape[1] > 1
            for i in range(m):
                for j in range(n):
                    out[i, j] = z[i if rows else 0, j if cols else 0]
        gemm_into(dtype.type(a[()]), x, y, dtype.type(b[()]), out)
        return out

    return gemm, _cache_key("Gemm" + ("_inplace" if inplace else ""), node)


# -- exp(-|x|) and log1p(e) for the float32 sigmoid and softplus ---------------------------
@intrinsic
def _pow2(typingctx, n):
    """2.0**n as float32 for an int32 n in [-126, 127], from the exponent bits."""
    sig = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        bits = builder.shl(builder.add(args[0], ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return sig, codegen


# No "reassoc" and no "afn": they would let LLVM undo the split of ln 2 below
# (Cody-Waite) or swap in its own approximations. Contractions into FMA are fine.
_EXACT = {"contract", "nsz", "arcp"}
_F = np.float32
_LN2_HI = _F(0.693359375)  # 355/512: n * _LN2_HI is exact for |n| < 2**15
_LN2_LO = _F(math.log(2) - 0.693359375)
_LOG2E = _F(1 / math.log(2))
_EXP_MIN = _F(math.log(2.0**-126))  # below it exp underflows float32's normal range
# Taylor coefficients 1/k!, k = 7..0: on |r| <= ln(2)/2 the remainder r^8/8! is
# under 2^-27 of e^r, below float32's half-ulp.
_EXP_TAYLOR = tuple(_F(1 / math.factorial(k)) for k in range(7, -1, -1))
# log1p(e) = 2 atanh(s), s = e/(2+e) in [0, 1/3]: 2 (s + s^3/3 + ... + s^15/15);
# the first term left out, s^17/17, is under 2^-29 of the sum.
_ATANH_SERIES = tuple(_F(1 / k) for k in range(15, 0, -2))


@numba_basic.numba_njit(fastmath=_EXACT, error_model="numpy")
def exp_neg_abs_f32(x):
    """exp(-|x|) in float32, within about 1 ulp, vectorizable (no libm call)."""
    y = -abs(x)
    small = y < _EXP_MIN  # also -inf; NaN compares false and stays NaN below
    y = max(y, _EXP_MIN)
    n = np.floor(y * _LOG2E + _F(0.5))
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = _EXP_TAYLOR[0]
    for c in _EXP_TAYLOR[1:]:
        p = p * r + c
    n_int = np.int32(n) if n == n else np.int32(0)  # a NaN must not reach the int conversion
    return _F(0) if small else p * _pow2(n_int)


@numba_basic.numba_njit(fastmath=_EXACT, error_model="numpy")
def log1p_unit_f32(e):
    """log1p(e) in float32 for e in [0, 1], within about 1 ulp, vectorizable."""
    s = e / (_F(2) + e)
    s2 = s * s
    p = _ATANH_SERIES[0]
    for c in _ATANH_SERIES[1:]:
        p = p * s2 + c
    return _F(2) * s * p


def _register_unary(op_type, float32_kernel, any_dtype):
    """Numba kernel of one of dae's scalar ops: ours in float32, NumPy's otherwise."""
    any_dtype = _njit(any_dtype)

    @register_funcify_and_cache_key(op_type)
    def funcify(op, node, **kwargs):
        kernel = float32_kernel if node.inputs[0].type.dtype == "float32" else any_dtype
        return kernel, _cache_key(op_type.__name__, node)


_register_unary(ExpNegAbs, exp_neg_abs_f32, lambda x: np.exp(-np.abs(x)))
_register_unary(Log1pUnit, log1p_unit_f32, lambda e: np.log1p(e))


# -- ExpandDims as a reshape ---------------------------------------------------------------
@register_funcify_and_cache_key(ContiguousExpandDims)
def _numba_contiguous_expand_dims(op, node, **kwargs):
    new_order = tuple(-1 if o == "x" else o for o in op.new_order)
    template = (1,) * len(new_order)

    @_njit
    def expand_dims(x):
        shape = template
        for i, o in enumerate(new_order):
            if o != -1:
                shape = numba_basic.tuple_setitem(shape, i, x.shape[o])
        return np.ascontiguousarray(x).reshape(shape)

    return expand_dims, _cache_key(f"ExpandDims{new_order}", node)


# -- Row slices that keep the layout ------------------------------------------------------
@_njit
def _rows_from_to(x, start, stop):
    return x[start:stop]


@_njit
def _rows_from(x, start):
    return x[start:]


@_njit
def _rows_to(x, stop):
    return x[:stop]


@_njit
def _all_rows(x):
    return x[:]


@register_funcify_and_cache_key(ContiguousRowSlice)
def _numba_contiguous_row_slice(op, node, **kwargs):
    [entry] = op.idx_list
    has = (entry.start is not None, entry.stop is not None)
    kernel = {(True, True): _rows_from_to, (True, False): _rows_from,
              (False, True): _rows_to, (False, False): _all_rows}[has]
    return kernel, _cache_key(f"RowSlice{has}", node)


# -- sums of vectors and matrices -----------------------------------------------------------
_PYTENSOR_CAREDUCE = numba_funcify_and_cache_key.dispatch(CAReduce)
_LANES = 32  # partial sums of a sum: four AVX-512 registers of float64 (PyTensor's float32 sums add in it)


@intrinsic
def _sum_in_lanes(typingctx, y, zero):
    """The sum of ``y`` (its elements adjacent in memory: a contiguous vector, or a C- or
    Fortran-ordered matrix), in ``zero``'s type (its value unused): lane k adds y[k],
    y[k + L], y[k + 2L], ... in memory order, one vector addition a block of L elements;
    then the lanes 0, 1, ..., L - 1 and the tail are added in order.

    Written as LLVM vector code because without fastmath's reassoc LLVM vectorizes no
    sum, not even with the lanes spelt out as an array or as L scalars (it keeps them in
    registers but adds them one at a time: 37 us against 5.6 us for the 784 x 196 weights).
    """
    sig = zero(y, zero)

    def codegen(context, builder, sig, args):
        array = make_array(sig.args[0])(context, builder, args[0])
        data, n = array.data, array.nitems
        elt, acc = context.get_value_type(sig.args[0].dtype), context.get_value_type(sig.return_type)
        intp, lanes_ty = n.type, ir.VectorType(acc, _LANES)

        def widened(value):
            return value if elt == acc else builder.fpext(value, lanes_ty if isinstance(value.type, ir.VectorType) else acc)

        blocks = builder.udiv(n, ir.Constant(intp, _LANES))
        lanes = cgutils.alloca_once_value(builder, ir.Constant(lanes_ty, [ir.Constant(acc, 0)] * _LANES))
        with cgutils.for_range(builder, blocks) as loop:
            block = builder.gep(data, [builder.mul(loop.index, ir.Constant(intp, _LANES))])
            values = builder.load(builder.bitcast(block, ir.VectorType(elt, _LANES).as_pointer()),
                                  align=context.get_abi_alignment(elt))
            builder.store(builder.fadd(builder.load(lanes), widened(values)), lanes)
        total, summed = ir.Constant(acc, 0), builder.load(lanes)
        for k in range(_LANES):
            total = builder.fadd(total, builder.extract_element(summed, ir.Constant(ir.IntType(32), k)))
        res = cgutils.alloca_once_value(builder, total)
        start = builder.mul(blocks, ir.Constant(intp, _LANES))
        with cgutils.for_range_slice(builder, start, n, ir.Constant(intp, 1)) as (i, _):
            builder.store(builder.fadd(builder.load(res), widened(builder.load(builder.gep(data, [i])))), res)
        return builder.load(res)

    return sig, codegen


@register_funcify_and_cache_key(Sum)
def _numba_sum(op, node, **kwargs):
    """``x.sum(axes)`` of a vector or matrix as plain loops; PyTensor's reducer otherwise.

    PyTensor's reducer handles any rank and layout by sorting the axes by stride at each
    call, with a branch per layout and a shape-mismatch message per assignment: compiling
    it was 4 s of the dA step's 13 s from empty caches (the step has five sums). Here the
    order of the additions is the loops' own, whatever the cache or the machine (dae's mode
    compiles without fastmath's reassoc, so LLVM keeps it): the sum of a vector or of a
    contiguous matrix in :data:`_LANES` partial sums over the elements as they lie in
    memory, and so each row's sum where rows are summed along their smaller stride; a sum
    down the outer axis (a bias's gradient of a C-ordered matrix) one row after another,
    which vectorizes across the outputs; a strided matrix's full sum one element at a time,
    along the axis of the smaller stride. ``tests/test_numba_kernels.py`` checks every
    order to the bit.
    """
    x, out = node.inputs[0], node.outputs[0]
    axes = tuple(range(x.ndim)) if op.axis is None else tuple(sorted(op.axis))
    acc = np.dtype(getattr(op, "acc_dtype", None) or out.type.dtype)
    out_dtype = np.dtype(out.type.dtype)
    if x.ndim not in (1, 2) or not axes or {acc.name, x.type.dtype} - {"float32", "float64"}:
        return _PYTENSOR_CAREDUCE(op, node, **kwargs)
    zero = acc.type(0)

    @_njit(inline="always")
    def in_lanes(y):
        if y.shape[0] < 2 or y.strides[0] == y.itemsize:
            return _sum_in_lanes(y, zero)
        return strided_in_lanes(y)

    @_njit(boundscheck=False)
    def strided_in_lanes(y):  # _sum_in_lanes's order in a loop, slower
        lanes = np.zeros(_LANES, dtype=acc)
        whole = y.shape[0] - y.shape[0] % _LANES
        for i in range(0, whole, _LANES):
            for k in range(_LANES):
                lanes[k] += y[i + k]
        res = zero
        for k in range(_LANES):
            res += lanes[k]
        for i in range(whole, y.shape[0]):
            res += y[i]
        return res

    if x.ndim == 1:
        @_njit(boundscheck=False)
        def fn(y):
            return np.array(in_lanes(y), dtype=out_dtype)
    elif axes == (0, 1):
        @_njit(boundscheck=False)
        def fn(x):
            if x.flags.c_contiguous or x.flags.f_contiguous:
                return np.array(_sum_in_lanes(x, zero), dtype=out_dtype)
            res = zero
            if abs(x.strides[1]) <= abs(x.strides[0]):
                for i in range(x.shape[0]):
                    for j in range(x.shape[1]):
                        res += x[i, j]
            else:
                for j in range(x.shape[1]):
                    for i in range(x.shape[0]):
                        res += x[i, j]
            return np.array(res, dtype=out_dtype)
    else:
        @_njit(boundscheck=False)
        def column_sum(x):  # a bias's gradient
            res = np.zeros(x.shape[1], dtype=acc)
            if abs(x.strides[1]) <= abs(x.strides[0]):
                for i in range(x.shape[0]):
                    for j in range(x.shape[1]):
                        res[j] += x[i, j]
            else:  # each output a sum along the inner axis: a row sum of a C-ordered matrix
                t = x.T
                for j in range(t.shape[0]):
                    res[j] = in_lanes(t[j])
            return res if acc == out_dtype else res.astype(out_dtype)

        if axes == (0,):
            fn = column_sum
        else:
            @_njit(boundscheck=False)
            def fn(x):  # a row sum: the column sum of the transpose, the same loops
                return column_sum(x.T)
    return fn, _cache_key(f"Sum{axes}", node)
