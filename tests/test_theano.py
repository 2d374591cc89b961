"""Tests of dae.theano: Theano-style code of our own on the layer (never the tutorial files).

Compiled in PyTensor's FAST_COMPILE mode (Python, no Numba compile) except
where dae's Numba mode itself is under test. Every test leaves sys.modules,
sys.path, sys.argv and pytensor.config as it found them.
"""
import gzip
import importlib
import pickle
import struct
import sys
from collections import OrderedDict

import numpy as np
import pytensor
import pytest

import dae.theano as theano
import dae.theano.tensor as T
from dae.theano.sandbox.rng_mrg import MRG_RandomStreams
from dae.theano.tensor.shared_randomstreams import RandomStreams


@pytest.fixture(autouse=True)
def py_mode():
    """FAST_COMPILE for every test, and sys.modules' theano entries restored after it."""
    saved_mode = pytensor.config.mode
    saved_modules = {k: v for k, v in sys.modules.items() if k == "theano" or k.startswith("theano.")}
    saved_meta_path = list(sys.meta_path)
    pytensor.config.mode = "FAST_COMPILE"
    yield
    pytensor.config.mode = saved_mode
    for name in [k for k in sys.modules if k == "theano" or k.startswith("theano.")]:
        del sys.modules[name]
    sys.modules.update(saved_modules)
    sys.meta_path[:] = saved_meta_path


def floatx(*values):
    return np.asarray(values, dtype=theano.config.floatX)


# -- shared, function, givens, In ----------------------------------------------------------
def test_shared_variables_are_truthy_like_theanos_and_pytensors_are_untouched():
    W = None
    if not W:  # the tutorials' idiom
        W = theano.shared(floatx(1, 2), name="W")
    assert bool(W) and not (not W)
    assert isinstance(W, pytensor.compile.SharedVariable)
    with pytest.raises(TypeError):
        bool(pytensor.shared(floatx(1, 2)))  # PyTensor's own variables keep PyTensor's rule
    again = pickle.loads(pickle.dumps(W))  # logistic_sgd.py pickles its model
    assert bool(again) and again.get_value().tolist() == [1, 2]


def test_givens_cut_minibatches_from_a_shared_matrix_as_the_tutorials_do():
    data = np.arange(12, dtype=theano.config.floatX).reshape(6, 2)
    data_x = theano.shared(data, borrow=True)
    index, x, batch = T.lscalar(), T.matrix("x"), 2
    f = theano.function([index], T.sum(x, axis=0), givens={x: data_x[index * batch:(index + 1) * batch]})
    for i in range(3):
        np.testing.assert_array_equal(f(i), data[2 * i:2 * i + 2].sum(axis=0))


def test_in_defaults_are_filled_in_by_position_and_by_name():
    index, level, lr = T.lscalar("index"), T.scalar("corruption"), T.scalar("lr")
    f = theano.function([index, theano.In(level, value=0.2), theano.In(lr, value=0.1)],
                        index + level * 10 + lr * 100)
    assert np.isclose(f(1), 1 + 2 + 10)
    assert np.isclose(f(1, 0.5), 1 + 5 + 10)
    assert np.isclose(f(index=1, corruption=0.3, lr=0.01), 1 + 3 + 1)  # as SdA.py calls it
    assert np.isclose(f(2, lr=0.2), 2 + 2 + 20)
    with pytest.raises(TypeError, match="missing input index"):
        f(lr=0.2)
    with pytest.raises(TypeError, match="unknown input name 'rate'"):
        f(1, rate=0.2)
    with pytest.raises(TypeError, match="given twice"):
        f(1, index=2)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        f(1, 2, 3, 4)


def test_inputs_are_checked_as_pytensor_checks_them():
    i, small = T.lscalar("i"), T.iscalar("small")
    f = theano.function([i, small], i + small)
    assert f(2, 3) == 5 and f(np.int64(2), np.int32(3)) == 5
    with pytest.raises((TypeError, OverflowError)):  # PyTensor's own check raises
        f(2, 2**40)  # does not fit int32
    with pytest.raises(TypeError):
        f(2.5, 3)  # a float for an integer input
    assert f.fn.trust_input  # the layer checked them; PyTensor need not check again


def test_updates_as_ordered_dict_dict_or_pairs():
    for make in (OrderedDict, dict, lambda pairs: list(pairs.items())):
        count = theano.shared(np.asarray(0, "int64"))
        step = T.lscalar("step")
        f = theano.function([step], count, updates=make(OrderedDict([(count, count + step)])))
        f(2)
        f(3)
        assert count.get_value() == 5


def test_grad_dimshuffle_and_switch():
    x = T.vector("x")
    row = x.dimshuffle("x", 0)  # (1, n)
    y = T.switch(T.gt(x, 0), x, 0.1 * x)
    g = theano.grad(T.sum(y), x)
    f = theano.function([x], [row, y, g])
    r, yv, gv = f(floatx(-1, 2))
    assert r.shape == (1, 2)
    np.testing.assert_allclose(yv, [-0.1, 2], rtol=1e-6)
    np.testing.assert_allclose(gv, [0.1, 1], rtol=1e-6)


def test_config_has_floatx_and_a_cpu_device():
    assert theano.config.floatX == pytensor.config.floatX
    assert theano.config.device == "cpu"
    theano.config.device = "cpu"  # setting what it is is harmless
    with pytest.raises(ValueError, match="no GPU device"):
        theano.config.device = "gpu"


# -- nnet -------------------------------------------------------------------------------------
def test_nnet_softmax_is_per_row_and_sigmoid_is_pytensors():
    assert T.nnet.sigmoid is pytensor.tensor.sigmoid  # mlp.py: activation == T.nnet.sigmoid
    assert T.nnet.softplus is pytensor.tensor.softplus
    m = T.matrix("m")
    f = theano.function([m], T.nnet.softmax(m))
    p = f(np.random.default_rng(0).normal(size=(4, 3)).astype(theano.config.floatX))
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_nnet_losses_and_activations():
    o, t, x = T.vector("o"), T.vector("t"), T.vector("x")
    labels = T.ivector("labels")
    dist = T.matrix("dist")
    f = theano.function([o, t, x, dist, labels], [
        T.nnet.binary_crossentropy(o, t), T.nnet.relu(x), T.nnet.relu(x, 0.5),
        T.nnet.categorical_crossentropy(dist, labels), T.nnet.hard_sigmoid(x)])
    ov, tv, xv = floatx(0.25, 0.5), floatx(1, 0), floatx(-2, 3)
    dv = floatx(0.2, 0.8, 0.6, 0.4).reshape(2, 2)
    bce, relu, leaky, cce, hard = f(ov, tv, xv, dv, np.asarray([1, 0], "int32"))
    np.testing.assert_allclose(bce, [-np.log(0.25), -np.log(0.5)], rtol=1e-6)
    np.testing.assert_allclose(relu, [0, 3])
    np.testing.assert_allclose(leaky, [-1, 3])
    np.testing.assert_allclose(cce, -np.log([0.8, 0.6]), rtol=1e-6)
    np.testing.assert_allclose(hard, [0.1, 1], rtol=1e-6)


# -- random streams ---------------------------------------------------------------------------
def test_mrg_binomial_masks_advance_by_themselves_keep_the_fraction_and_dtype():
    x = T.matrix("x")
    rng = MRG_RandomStreams(1234)
    mask = rng.binomial(size=x.shape, n=1, p=0.7, dtype=theano.config.floatX)
    assert mask.dtype == theano.config.floatX
    assert rng.binomial(size=(2,), p=0.5).dtype == "int64"  # Theano's default
    f = theano.function([x], mask * x)  # no updates passed: the stream advances itself
    ones = np.ones((200, 50), theano.config.floatX)
    draws = [f(ones) for _ in range(3)]
    assert all(d.dtype == theano.config.floatX and set(np.unique(d)) <= {0, 1} for d in draws)
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    for d in draws:
        assert abs(d.mean() - 0.7) < 0.03  # 10,000 draws: 5 standard deviations
    # same seed, same masks
    again = MRG_RandomStreams(1234)
    g = theano.function([x], again.binomial(size=x.shape, p=0.7, dtype=theano.config.floatX) * x)
    np.testing.assert_array_equal(g(ones), draws[0])


def test_random_streams_uniform_normal_and_their_updates():
    rng = RandomStreams(7)
    u, n = rng.uniform(size=(1000,)), rng.normal(size=(3,), avg=1.0, std=0.0)
    assert u.dtype == n.dtype == theano.config.floatX
    f = theano.function([], [u, n])
    (u1, n1), (u2, _) = f(), f()
    assert 0 <= u1.min() and u1.max() < 1 and abs(u1.mean() - 0.5) < 0.05
    assert not np.array_equal(u1, u2)
    np.testing.assert_array_equal(n1, 1)
    frozen = theano.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    # an update the caller gives wins over the stream's own
    state, _ = rng.updates()[0]
    kept = theano.function([], u, updates=[(state, state)])
    np.testing.assert_array_equal(kept(), kept())


def test_a_draw_through_givens_advances_too():
    data = theano.shared(np.ones((4, 3), theano.config.floatX))
    index, x = T.lscalar(), T.matrix("x")
    rng = MRG_RandomStreams(0)
    noisy = x * rng.uniform(size=x.shape)
    f = theano.function([index], noisy, givens={x: data[index * 2:(index + 1) * 2]})
    assert not np.array_equal(f(0), f(0))


# -- the Numba mode's row slice -----------------------------------------------------------------
def test_numba_mode_cuts_givens_rows_as_contiguous_slices():
    from dae.config import get_mode
    from dae.numba_mode import ContiguousRowSlice

    data = np.arange(40, dtype="float32").reshape(10, 4)
    shared_x = theano.shared(data)
    index, x = T.lscalar(), T.matrix("x")
    f = theano.function([index], T.exp(x) * 2, mode=get_mode("numba"),
                        givens={x: shared_x[index * 3:(index + 1) * 3]})
    assert any(isinstance(node.op, ContiguousRowSlice) for node in f.maker.fgraph.apply_nodes)
    for i in range(4):  # the last minibatch is short
        np.testing.assert_allclose(f(i), np.exp(data[3 * i:3 * i + 3]) * 2, rtol=1e-6)


# -- install, run_script ----------------------------------------------------------------------
def test_install_makes_import_theano_give_the_layer_and_uninstall_undoes_it():
    assert theano.install() is theano
    import theano as imported
    import theano.tensor as TT
    from theano.sandbox.rng_mrg import MRG_RandomStreams as Imported
    from theano.tensor.shared_randomstreams import RandomStreams as Shared

    assert imported is theano and TT is T and Imported is MRG_RandomStreams
    assert TT.shared_randomstreams.RandomStreams is Shared is RandomStreams
    assert TT.nnet.sigmoid is pytensor.tensor.sigmoid
    # not in dae.theano: PyTensor's module, left as it is
    extra_ops = importlib.import_module("pytensor.tensor.extra_ops")
    assert importlib.import_module("theano.tensor.extra_ops") is extra_ops
    assert extra_ops.__spec__.name == "pytensor.tensor.extra_ops"
    assert "dae.theano" in theano.describe() and "installed" in theano.describe()
    theano.uninstall()
    assert not theano.installed()
    assert not [k for k in sys.modules if k == "theano" or k.startswith("theano.")]


def test_a_real_theano_is_not_shadowed_silently(tmp_path, monkeypatch):
    fake = tmp_path / "theano"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(theano.TheanoShadowedWarning, match=str(fake)):
        theano.install()
    theano.uninstall()
    import theano as real  # now the fake one, imported by someone else first
    assert real.REAL
    with pytest.raises(RuntimeError, match="already imported"):
        theano.install()
    assert sys.modules["theano"] is real


def test_run_script_runs_a_theano_script_as_main(tmp_path):
    (tmp_path / "helper.py").write_text("import theano.tensor as T\nX = T.matrix('x')\n")
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "import theano\n"
        "from helper import X\n"
        "f = theano.function([X], X.sum())\n"
        "import os\n"
        "assert __name__ == '__main__' and os.path.isabs(__file__)  # as `python script.py`\n"
        "assert f([[1.0, 2.0]]) == 3\n"
        "sys.exit(int(sys.argv[1]))\n")
    argv, path = list(sys.argv), list(sys.path)
    try:
        assert theano.run_script(script, ["0"]) == 0
        assert theano.run_script(script, ["3"]) == 3
    finally:
        sys.modules.pop("helper", None)
    assert sys.argv == argv and sys.path == path
    with pytest.raises(FileNotFoundError):
        theano.run_script(tmp_path / "missing.py")


# -- the tutorials' mnist.pkl.gz ------------------------------------------------------------------
def _idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))


def test_write_mnist_pkl_round_trip(tmp_path):
    from dae.data import MNIST_FILES, load_mnist, write_mnist_pkl

    rng = np.random.default_rng(0)
    idx = tmp_path / "idx"
    idx.mkdir()
    names = list(MNIST_FILES)
    images = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (4, 28, 28))
    labels = rng.integers(0, 10, 12), rng.integers(0, 10, 4)
    for name, array in zip(names, (images[0], labels[0], images[1], labels[1])):
        _idx(idx / name, array)
    written = write_mnist_pkl(tmp_path / "data", idx, verify_md5=False)
    assert written == tmp_path / "data" / "mnist.pkl.gz"
    with gzip.open(written, "rb") as f:  # as the tutorials' load_data reads it
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(f, encoding="latin1")
    assert train_x.shape == (10, 784) and valid_x.shape == (2, 784) and test_x.shape == (4, 784)
    assert train_x.dtype == np.float32 and train_y.dtype == np.int64
    np.testing.assert_allclose(train_x, images[0][:10].reshape(10, -1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([train_y, valid_y]), labels[0])
    np.testing.assert_array_equal(test_y, labels[1])
    back = load_mnist(written)  # dae's own loader reads it too
    np.testing.assert_array_equal(back[0][0], train_x)
    np.testing.assert_array_equal(back[2][1], test_y)
    assert not [p for p in written.parent.iterdir() if p.name != "mnist.pkl.gz"]  # no temp files


def test_write_mnist_pkl_needs_the_idx_files(tmp_path):
    from dae.data import DataError, write_mnist_pkl

    (tmp_path / "mnist.pkl.gz").write_bytes(b"")
    with pytest.raises(DataError, match="IDX"):
        write_mnist_pkl(tmp_path / "out", tmp_path / "mnist.pkl.gz")
