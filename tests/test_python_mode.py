"""dae.python_mode: FAST_COMPILE's graph and numbers, without a per-element Python loop or a
Numba compile anywhere in it."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.builders import OpFromGraph
from pytensor.tensor.elemwise import Elemwise

from dae.config import get_mode
from dae.python_mode import NUMPY_IMPLS, NumPyElemwise

PY = get_mode("py")


def _slow_elemwise(fgraph):
    """Elemwise nodes that PyTensor's perform would run element by element in Python."""
    return [n for n in fgraph.apply_nodes if isinstance(n.op, Elemwise)
            and (n.op.nfunc_spec is None or n.op.nfunc_spec[1] != len(n.inputs))]


def test_softmax_runs_in_python_not_in_the_default_mode():
    """PyTensor's FAST_COMPILE keeps softmax whole (an OpFromGraph) and compiles its inner
    graph in the default mode, Numba under dae; dae's py mode expands it."""
    x = pt.fmatrix()
    log_p = pt.special.log_softmax(x, axis=-1)
    outputs = [pt.special.softmax(x, axis=-1), pytensor.grad(log_p[:, 0].sum(), x)]
    plain = pytensor.function([x], outputs, mode="FAST_COMPILE")
    assert any(isinstance(n.op, OpFromGraph) for n in plain.maker.fgraph.apply_nodes)
    f = pytensor.function([x], outputs, mode=PY)
    assert not any(isinstance(n.op, OpFromGraph) for n in f.maker.fgraph.apply_nodes)
    a = np.random.RandomState(0).randn(3, 4).astype("float32")
    p = np.exp(a - a.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    softmax, grad = f(a)
    np.testing.assert_allclose(softmax, p, rtol=1e-6)
    np.testing.assert_allclose(grad, np.eye(4, dtype="float32")[[0, 0, 0]] - p, rtol=1e-5, atol=1e-7)


def test_elementwise_ops_without_a_ufunc_run_in_numpy_with_fast_compiles_numbers():
    """n-ary add and mul, softplus (at its extremes too), cast, clip and second (fill, with
    broadcasting): each is a NumPyElemwise in py mode, and gives FAST_COMPILE's values and dtypes."""
    x, y, z = pt.fmatrix("x"), pt.frow("y"), pt.fscalar("z")
    outputs = [x * y * z, x + y + z + 1, pt.softplus(x * 30), pt.cast(x > 0, "float32"),
               pt.cast(x * 1e3, "int32"), pt.clip(x, -0.5, z), pt.second(x, y)]
    rng = np.random.RandomState(0)
    values = [rng.randn(4, 5).astype("float32"), rng.randn(1, 5).astype("float32"), np.float32(0.7)]
    f = pytensor.function([x, y, z], outputs, mode=PY)
    ops = {type(n.op.elemwise.scalar_op) for n in f.maker.fgraph.apply_nodes if isinstance(n.op, NumPyElemwise)}
    assert ops == set(NUMPY_IMPLS), ops
    assert not _slow_elemwise(f.maker.fgraph)
    reference = pytensor.function([x, y, z], outputs, mode="FAST_COMPILE")(*values)
    for got, want in zip(f(*values), reference):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    big = np.array([[-200, -40, 0, 40, 200]], dtype="float32")
    np.testing.assert_allclose(f(big, values[1], values[2])[2], np.logaddexp(0, 30 * big), rtol=1e-6)


@pytest.mark.parametrize("name", ["dA", "cA", "sA", "SdA", "VAE"])
def test_no_training_step_runs_an_element_at_a_time(name, compiled_steps):
    """Every model's training steps in py mode: each elementwise op is a ufunc or NumPy (the
    784-500 cA step took 1.7 s with PyTensor's per-element loops, 7 ms without)."""
    _, steps = compiled_steps(name, "py")
    for step in steps:
        fgraph = step.function.maker.fgraph
        assert not _slow_elemwise(fgraph), _slow_elemwise(fgraph)
        assert not any(isinstance(n.op, OpFromGraph) for n in fgraph.apply_nodes)
