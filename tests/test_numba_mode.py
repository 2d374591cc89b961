"""dae.numba_mode: PyTensor's Numba mode with BLAS rewrites and dae's float32 kernels.

In dae's Numba mode on purpose. That it trains like PyTensor's own Numba mode and every
other backend is test_config.py's one step per backend.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

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


def test_daes_kernels_are_made_without_reassoc_under_keys_of_their_own(monkeypatch):
    """dae's compile gives PyTensor's kernels dae's fastmath flags and cache keys; PyTensor's
    own NUMBA mode keeps its flags (its sums are dae's kernel: the registration is global)."""
    from pytensor.link.numba import cache
    from pytensor.link.numba.dispatch import basic

    made, keys = [], []
    njit, compile_src = basic._njit, cache.compile_numba_function_src

    def recording_njit(*args, fastmath=None, **kwargs):
        made.append(fastmath)
        return njit(*args, fastmath=fastmath, **kwargs)

    def recording_src(*args, cache_key=None, **kwargs):
        keys.append(cache_key)
        return compile_src(*args, cache_key=cache_key, **kwargs)

    monkeypatch.setattr(basic, "_njit", recording_njit)
    monkeypatch.setattr(basic, "compile_numba_function_src", recording_src)
    original = basic.numba_njit
    x, y, z = pt.matrix("x"), pt.matrix("y"), pt.vector("z")
    outputs = [pt.sum(x * y * 3.0, axis=0) + z, pt.exp(x).sum()]
    results = {}
    for name in ("dae", "pytensor"):
        made.clear()
        keys.clear()
        chosen = get_mode("numba") if name == "dae" else "NUMBA"
        f = pytensor.function([x, y, z], outputs, mode=chosen)
        values = [np.full((3, 2), 0.5, "float32"), np.full((3, 2), 2.0, "float32"), np.ones(2, "float32")]
        results[name] = f(*values)
        assert basic.numba_njit is original  # put back after dae's compile
        flags = [set(f) for f in made if f]
        assert flags and keys, (made, keys)
        keyed = [k for k in keys if k is not None]
        if name == "dae":
            assert all("reassoc" not in f for f in flags), made
            assert keyed and all(k.startswith("dae_") for k in keyed), keys
        else:
            assert any("reassoc" in f for f in flags), made  # its elementwise kernels'
            assert not any(k.startswith("dae_") for k in keyed), keys
    for ours, theirs in zip(*results.values()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


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


_SA_STEP = """
import hashlib
import numpy as np
import pytensor
from dae.experiments.sA import Config
from dae.sA import sA
from dae.train import compile_step

c = Config()
x = np.random.default_rng(0).random((1000, 784), dtype=np.float32)
model = sA(numpy_rng=np.random.RandomState(1), n_visible=784, n_hidden=c.n_hidden,
           sparsity=c.sparsity, loss=c.loss)
cost, hidden = model.get_cost(sparsity_target=c.sparsity_target,
                              sparsity_weight=c.sparsity_weight, weight_decay=c.weight_decay)
step = compile_step({model.x: pytensor.shared(x)}, c.batch_size, [cost],
                    model.updates_for(cost, c.learning_rate, c.update_rule), "numba")
for i in range(step.n_steps):
    step(i)
print(hashlib.sha256(b"".join(np.ascontiguousarray(p.get_value()).tobytes()
                              for p in model.params)).hexdigest())
"""


@pytest.mark.integration
def test_a_step_gives_the_same_weights_from_empty_and_from_warm_caches(tmp_path):
    """Under PyTensor's fastmath flags (``reassoc`` among them) the second process, running
    the code the first had cached, ended on other weights; dae's flags leave reassoc out."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'}",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = [subprocess.run([sys.executable, "-c", _SA_STEP], env=env, capture_output=True, text=True,
                           timeout=600) for _ in ("empty caches", "warm caches")]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    cold, warm = (r.stdout.split()[-1] for r in runs)
    assert cold == warm
