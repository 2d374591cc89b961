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


def test_sums_of_vectors_and_matrices_add_as_pytensors_reducer_does():
    from pytensor.link.numba.dispatch import basic as numba_basic

    from dae import _numba_kernels as kernels

    rng = np.random.default_rng(0)
    for dtype, axis in itertools.product(("float32", "float64"), (None, 0, 1, (0, 1))):
        x = pt.matrix(dtype=dtype)
        node = x.sum(axis=axis).owner
        # final_function: callable from Python (a graph's kernels are not)
        ours = numba_basic.numba_njit(kernels._numba_sum(node.op, node)[0].py_func, final_function=True)
        theirs = numba_basic.numba_njit(kernels._PYTENSOR_CAREDUCE(node.op, node)[0].py_func,
                                        final_function=True)
        for a in _layouts(rng.normal(size=(37, 53)).astype(dtype)) + [np.zeros((0, 3), dtype)]:
            got, want = np.asarray(ours(a)), np.asarray(theirs(a))
            assert got.dtype == want.dtype and got.shape == want.shape
            if not (a.flags.f_contiguous and not a.flags.c_contiguous):
                np.testing.assert_array_equal(got, want)  # the same additions in the same order
            np.testing.assert_allclose(got, a.sum(axis=axis), rtol=1e-4 if dtype == "float32" else 1e-10)
    v = pt.vector("v", dtype="float32")
    sum_v = pytensor.function([v], v.sum(), mode=get_mode("numba"))
    np.testing.assert_allclose(sum_v(np.arange(10, dtype="float32")[::-2]), 25.0)
    # A rank the loops do not cover goes to PyTensor's reducer.
    t = pt.tensor3(dtype="float32")
    cube = rng.normal(size=(3, 4, 5)).astype("float32")
    np.testing.assert_allclose(pytensor.function([t], t.sum(axis=1), mode=get_mode("numba"))(cube),
                               cube.sum(axis=1), rtol=1e-5)
