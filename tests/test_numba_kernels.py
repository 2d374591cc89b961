"""dae._numba_kernels: the Numba kernels of dae's mode, against NumPy, for every layout.

Everything here runs in dae's Numba mode on purpose: the kernels are what is under test.
"""
import itertools

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.config import get_mode
from dae.numba_mode import ContiguousExpandDims


def _layouts(a):
    """``a``'s values as C, Fortran, column-strided and negatively strided arrays."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    wide[:, ::2] = a
    return [np.ascontiguousarray(a), np.asfortranarray(a), wide[:, ::2], a[::-1].copy()[::-1]]


def test_gemm_kernel_handles_every_layout_shape_and_scale():
    from dae._numba_kernels import gemm_into

    # One signature, arrays of any layout: the kernel reads the strides at run time.
    @numba.njit("void(float32, float32[:, :], float32[:, :], float32, float32[:, ::1])")
    def call(alpha, x, y, beta, out):
        gemm_into(alpha, x, y, beta, out)

    rng = np.random.default_rng(0)
    for m, k, n in itertools.product([0, 1, 3], [0, 1, 4], [1, 5]):
        a = rng.standard_normal((m, k)).astype("float32")
        b = rng.standard_normal((k, n)).astype("float32")
        for x, y in itertools.product(_layouts(a), _layouts(b)):
            for alpha, beta in [(1, 0), (-0.5, 1), (2, 0.5)]:
                out = rng.standard_normal((m, n)).astype("float32")
                expected = alpha * (a @ b) + beta * out
                if beta == 0:
                    out[...] = np.nan  # BLAS's beta = 0 ignores out, NaN included
                call(np.float32(alpha), x, y, np.float32(beta), out)
                np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5,
                                           err_msg=f"{(m, k, n)} {x.strides} {y.strides}")


def test_sigmoid_and_softplus_are_exact_for_every_float32():
    x = pt.vector("x")
    f = pytensor.function([x], [pt.sigmoid(x), pt.softplus(x)], mode=get_mode("numba"))
    values = np.concatenate([np.linspace(-120, 120, 200001), [0, -0.0, 1e-30, -1e-30, 88.7, -88.7,
                                                               -103.9, 1e4, -1e4]]).astype("float32")
    sigmoid, softplus = f(values)
    exact = values.astype("float64")
    expected_sigmoid = np.exp(-np.logaddexp(0, -exact))
    expected_softplus = np.logaddexp(0, exact)
    for got, want in ((sigmoid, expected_sigmoid), (softplus, expected_softplus)):
        assert got.dtype == np.float32
        normal = np.abs(want) > np.finfo(np.float32).tiny
        ulps = np.abs(got[normal] - want[normal]) / np.spacing(np.abs(want[normal]).astype("float32"))
        assert ulps.max() <= 4, ulps.max()
        assert np.all(np.abs(got[~normal] - want[~normal]) <= np.finfo(np.float32).tiny)
    special = f(np.array([np.inf, -np.inf, np.nan], "float32"))
    np.testing.assert_array_equal(special[0], [1, 0, np.nan])
    np.testing.assert_array_equal(special[1], [np.inf, 0, np.nan])


def test_bias_broadcast_kernel_copies_a_strided_bias_and_views_a_contiguous_one():
    """``m + b[None, :]`` with b contiguous, a strided slice of a vector, a strided input
    array and a column of a matrix: the expand-dims kernel's reshape of a contiguous copy."""
    m, v, c = pt.matrix("m"), pt.vector("v"), pt.matrix("c")
    outputs = [m + v[None, :3], m + v[::2][None, :], m + c[:, 1][None, :]]
    f = pytensor.function([m, v, c], outputs, mode=get_mode("numba"))
    expand = [node for node in f.maker.fgraph.toposort() if isinstance(node.op, ContiguousExpandDims)]
    assert len(expand) >= 2, f.maker.fgraph.toposort()
    rng = np.random.default_rng(0)
    mv = rng.standard_normal((4, 3)).astype("float32")
    wide = rng.standard_normal(12).astype("float32")
    cv = rng.standard_normal((3, 5)).astype("float32")
    for vector in (wide[:6], wide[::2]):  # contiguous, and strided as passed in
        assert vector.shape == (6,)
        got = f(mv, vector, cv)
        expected = [mv + vector[None, :3], mv + vector[::2][None, :], mv + cv[:, 1][None, :]]
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def _in_lanes(flat, lanes, acc):
    """The sum of a 1-d array as dae's kernel adds it, in ``acc``: lane k adds flat[k],
    flat[k + lanes], ... in turn (NumPy's sum down the columns adds row after row), then
    the lanes and the tail in order."""
    flat = flat.astype(acc)
    whole = len(flat) - len(flat) % lanes
    res = flat.dtype.type(0)
    for part in flat[:whole].reshape(-1, lanes).sum(axis=0):
        res += part
    for value in flat[whole:]:
        res += value
    return res


def _in_kernel_order(a, axis, acc, lanes):
    """``a.sum(axis)`` in ``acc`` as dae's kernel adds it, for the orders other than a
    contiguous array's full sum: a partial sum whose axis has the smaller stride in lanes
    (each output as :func:`_in_lanes`), otherwise one element at a time (the outputs side by
    side), along the axis of the smaller stride for a strided full sum."""
    if axis in (None, (0, 1)):
        inner_first = abs(a.strides[1]) <= abs(a.strides[0])
        res = np.dtype(acc).type(0)
        for value in (a.ravel() if inner_first else a.T.ravel()).astype(acc):
            res += value
        return res
    x = a if axis == 0 else a.T  # summed down its rows
    if abs(x.strides[1]) > abs(x.strides[0]):
        return np.array([_in_lanes(column, lanes, acc) for column in x.T], acc)
    res = np.zeros(x.shape[1], acc)
    for row in x.astype(acc):
        res += row
    return res


def test_sums_of_vectors_and_matrices_add_in_the_kernels_order():
    from dae import _numba_kernels as kernels

    def compiled(node):
        # With dae's flags (PyTensor's would add reassoc), callable from Python (final_function)
        return kernels._njit(kernels._numba_sum(node.op, node)[0].py_func, final_function=True)

    rng = np.random.default_rng(0)
    for dtype, axis in itertools.product(("float32", "float64"), (None, 0, 1, (0, 1))):
        node = pt.matrix(dtype=dtype).sum(axis=axis).owner
        ours, acc = compiled(node), node.op.acc_dtype
        for a in _layouts(rng.normal(size=(67, 133)).astype(dtype)) + [np.zeros((0, 3), dtype)]:
            got = np.asarray(ours(a))
            assert got.dtype == np.dtype(dtype) and got.shape == a.sum(axis=axis).shape
            if axis in (None, (0, 1)) and (a.flags.c_contiguous or a.flags.f_contiguous):
                flat = a.ravel(order="C" if a.flags.c_contiguous else "F")
                want = _in_lanes(flat, kernels._LANES, acc)
            else:
                want = _in_kernel_order(a, axis, acc, kernels._LANES)
            np.testing.assert_array_equal(got, np.asarray(want).astype(dtype), err_msg=f"{dtype} {axis} {a.strides}")
            np.testing.assert_allclose(got, a.sum(axis=axis), rtol=1e-4 if dtype == "float32" else 1e-10)
    # 1-d: contiguous, strided, shorter than the lanes, and of a whole number of them
    for n, step in itertools.product((0, 5, 64, 1000), (1, -2)):
        v = rng.normal(size=2 * n).astype("float32")[::step][:n]
        node = pt.vector(dtype="float32").sum().owner
        np.testing.assert_array_equal(compiled(node)(v),
                                      np.float32(_in_lanes(v, kernels._LANES, node.op.acc_dtype)))
    v = pt.vector("v", dtype="float32")
    sum_v = pytensor.function([v], v.sum(), mode=get_mode("numba"))
    np.testing.assert_allclose(sum_v(np.arange(10, dtype="float32")[::-2]), 25.0)
    # A rank the loops do not cover goes to PyTensor's reducer.
    t = pt.tensor3(dtype="float32")
    cube = rng.normal(size=(3, 4, 5)).astype("float32")
    np.testing.assert_allclose(pytensor.function([t], t.sum(axis=1), mode=get_mode("numba"))(cube),
                               cube.sum(axis=1), rtol=1e-5)
