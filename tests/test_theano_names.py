"""dae.theano's Theano names beyond the five tutorials (issue 18, item 2): each is a working object.

Also Theano's truthiness under install(), images2neibs against NumPy, and the
one-line error of a Theano function that is not here.
"""
import sys

import numpy as np
import pytest

import dae.theano as theano
import dae.theano.tensor as T
from dae.theano.missing import TheanoAPIMissing
from test_theano import py_mode  # noqa: F401  (FAST_COMPILE, sys.modules restored)


@pytest.fixture(autouse=True)
def installed(py_mode):
    """``import theano`` giving dae.theano (test_theano's py_mode restores sys.modules after)."""
    theano.install()
    yield
    theano.uninstall()


def test_variables_are_true_except_a_comparisons_result_as_in_theano():
    x = T.matrix("x")
    assert bool(x) and bool(x * 2) and bool(T.scalar() + 1)
    a, b = T.scalar(), T.scalar()
    for compared in (a < b, a <= b, a > b, a >= b):
        with pytest.raises(TypeError):
            bool(compared)
    with pytest.raises(TypeError):
        a < b < 1  # what Theano's rule is for
    theano.uninstall()  # outside Theano code: PyTensor's rule
    with pytest.raises(TypeError):
        bool(T.matrix())


def test_theano_names_resolve_to_pytensor_objects():
    import theano
    import theano.gof.graph
    import theano.gof.utils
    import theano.scan_module.scan_utils
    import theano.tensor.signal.downsample
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op
    from theano.tensor.nnet import abstract_conv, neighbours  # noqa: F401
    from theano.tensor.signal import pool

    assert theano.scalar.upcast("float32", "int64") == "float64"  # hmc.py
    assert theano.Variable is theano.gof.Variable is theano.gof.graph.Variable
    assert theano.gof.Op is Op and theano.gof.Apply is Apply
    assert theano.gof.utils is sys.modules["pytensor.graph.utils"]
    x, w = T.matrix("x"), T.vector("w")
    y = T.exp(x) + w
    found = theano.gof.graph.inputs([y])
    assert isinstance(found, list) and set(found) == {x, w}  # a list, as Theano's
    assert theano.scan_module.scan_utils.equal_computations([y], [T.exp(x) + w])
    assert not theano.scan_module.scan_utils.equal_computations([y], [T.exp(x) - w])
    assert theano.tensor.signal.downsample is pool is theano.tensor.signal.pool
    theano.config.warn.subtensor_merge_bug = False  # rnnrbm.py: a Theano bug's flag, kept


def test_variable_classes_are_theanos():
    """Theano's Variable(type, owner=None, ...), and its TensorVariable, which no shared
    variable or constant is (Lasagne's recurrent layers tell a parameter from an expression
    so); both make, and recognise, PyTensor's variables."""
    from pytensor.graph.basic import Variable
    from pytensor.tensor import TensorConstant

    v = theano.Variable("myvariable")  # Lasagne's test_helper: any type will do
    assert type(v) is Variable and v.owner is None and isinstance(v, theano.Variable)
    x, w, c = T.matrix(), theano.shared(np.zeros(2)), T.constant(1.0)
    assert all(isinstance(a, theano.Variable) for a in (x, x * 2, w, c))
    assert isinstance(x, T.TensorVariable) and isinstance(x * 2, T.TensorVariable)
    assert not isinstance(w, T.TensorVariable) and not isinstance(c, T.TensorVariable)
    assert not isinstance(np.zeros(2), theano.Variable) and not isinstance(1, T.TensorVariable)
    assert not issubclass(TensorConstant, T.TensorVariable)
    made = T.TensorVariable(T.TensorType(theano.config.floatX, (None,)), name="v")
    assert made.name == "v" and isinstance(made, T.TensorVariable)
    assert (made * 2).eval({made: np.ones(2, made.dtype)}).tolist() == [2, 2]
    assert not isinstance(np.zeros(2), Variable)  # PyTensor's own checks are untouched


def test_no_gpu_as_in_a_theano_without_one():
    import theano.gpuarray
    import theano.sandbox.cuda

    assert theano.sandbox.cuda.cuda_available is False and theano.sandbox.cuda.cuda_enabled is False
    assert theano.gpuarray.pygpu_activated is False
    with pytest.raises(EnvironmentError, match="no GPU"):
        theano.sandbox.cuda.use("gpu0")


@pytest.mark.parametrize("shape, step, mode, width", [((2, 2), None, "valid", 6),
                                                      ((3, 2), (1, 2), "valid", 6),
                                                      ((2, 3), (2, 2), "ignore_borders", 7)])
def test_images2neibs_matches_theanos_layout(shape, step, mode, width):
    from theano.tensor.nnet.neighbours import images2neibs

    images = np.arange(2 * 3 * 6 * width, dtype=theano.config.floatX).reshape(2, 3, 6, width)
    x = T.tensor4("x")
    got = theano.function([x], images2neibs(x, shape, step, mode=mode))(images)
    (r, c), (sr, sc) = shape, step or shape
    rows, cols = (images.shape[2] - r) // sr + 1, (images.shape[3] - c) // sc + 1
    want = [images[b, ch, i * sr:i * sr + r, j * sc:j * sc + c].ravel()
            for b in range(2) for ch in range(3) for i in range(rows) for j in range(cols)]
    np.testing.assert_array_equal(got, np.array(want))
    g = theano.function([x], T.grad(images2neibs(x, shape, step, mode=mode).sum(), x))(images)
    assert g.shape == images.shape and g.sum() == len(want) * r * c  # each use counted once


def test_images2neibs_valid_refuses_what_does_not_tile():
    from theano.tensor.nnet.neighbours import images2neibs

    x = T.tensor4("x")
    f = theano.function([x], images2neibs(x, (2, 2)))
    with pytest.raises(AssertionError, match="ignore_borders"):
        f(np.zeros((1, 1, 5, 4), dtype=theano.config.floatX))


def test_a_missing_theano_function_imports_and_fails_in_one_line_naming_the_caller():
    from theano.tensor.nnet import conv3d  # an import of a missing name works
    from theano.tensor.signal import pool

    for call in (lambda: conv3d(T.tensor5(), T.tensor5()), lambda: pool.pool_3d(T.tensor5(), (2, 2, 2))):
        with pytest.raises(TheanoAPIMissing) as raised:
            call()
        message = str(raised.value)
        assert "\n" not in message and f"{__file__}:" in message
    assert "theano.tensor.signal.pool.pool_3d" in message
    with pytest.raises(TheanoAPIMissing, match="mode='wrap_centered'"):
        T.nnet.images2neibs(T.tensor4(), (3, 3), mode="wrap_centered")
