"""dae.numba_mode: PyTensor's Numba mode with BLAS rewrites and dae's float32 kernels.

In dae's Numba mode on purpose. That it trains like PyTensor's own Numba mode and every
other backend is test_config.py's one step per backend.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt

from dae.config import get_mode
from dae.numba_mode import BlasNumbaLinker, mode


def test_the_mode_is_built_once_with_daes_linker():
    assert mode() is mode() is get_mode("numba")
    assert isinstance(mode().linker, BlasNumbaLinker)


def test_the_dA_step_uses_the_fast_kernels(compiled_steps):
    """The SGD update is two in-place gemms on W; sigmoid and softplus are dae's."""
    _, [step] = compiled_steps("dA", "numba")
    ops = [str(node.op) for node in step.function.maker.fgraph.toposort()]
    assert ops.count("Gemm{inplace}") == 2, ops
    assert not any("sigmoid" in op or "softplus" in op for op in ops), ops
    assert any("exp_neg_abs" in op for op in ops), ops


def test_products_of_transposes_slices_and_vectors_match_python_mode():
    a, b = pt.matrix("a"), pt.matrix("b")
    v = pt.vector("v")
    outputs = [pt.dot(a, b.T), pt.dot(a.T[:, ::2], b[::2]) * 3.0, pt.dot(a, v), pt.dot(v, b.T),
               1.5 * a + pt.dot(a, b.T[:, :4]) * 0.5, pt.outer(v, v)]
    inputs = [a, b, v]
    rng = np.random.default_rng(1)
    values = [rng.standard_normal((6, 4)).astype("float32"),
              rng.standard_normal((6, 4)).astype("float32"),
              rng.standard_normal(4).astype("float32")]
    fast = pytensor.function(inputs, outputs, mode=get_mode("numba"))(*values)
    slow = pytensor.function(inputs, outputs, mode=get_mode("py"))(*values)
    for f, s in zip(fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-5, atol=1e-5)


def test_a_givens_slice_of_the_data_trains_as_a_minibatch_passed_in():
    """The tutorials' ``givens={x: data[i * b:(i + 1) * b]}`` (a row slice, kept contiguous
    by dae's mode) computes what the same rows passed in compute, the last smaller one too."""
    data = pytensor.shared(np.random.default_rng(2).random((25, 6)).astype("float32"))
    x, index = pt.matrix("x"), pt.lscalar("index")
    w = pytensor.shared(np.linspace(-1, 1, 18, dtype="float32").reshape(6, 3))
    out = pt.sum(pt.sigmoid(pt.dot(x, w) + 0.5), axis=1)
    sliced = pytensor.function([index], out, givens={x: data[index * 10:(index + 1) * 10]},
                               mode=get_mode("numba"))
    passed = pytensor.function([x], out, mode=get_mode("numba"))
    for i in range(3):
        np.testing.assert_array_equal(sliced(i), passed(data.get_value()[i * 10:(i + 1) * 10]))
