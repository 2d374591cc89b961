"""dae.config (and what ``import dae`` settles through it): floatX, the compile modes, and one
compiled training step in each backend get_mode offers.

numba (dae's mode, the default), plain_numba (PyTensor's own), c (PyTensor's C backend, slow
without BLAS: the models are tiny), py, and jax (skipped when JAX is not installed:
``pip install -e .[test]`` brings it). Each step is compiled once (conftest's
``compiled_steps``) and shared with the other files' checks of the same graph.
"""
import importlib.util
import os
import subprocess
import sys
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dae.config import get_mode, scalar, set_mode

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed (pip install jax)")
MODES = ["numba", "plain_numba", "c", "py", pytest.param("jax", marks=needs_jax)]


@pytest.fixture(autouse=True)
def _quiet_backends():
    with warnings.catch_warnings():
        # PyTensor's JAX linker copies random generators and truncates float64
        # accumulators to float32 (no x64 in JAX): both expected, both warn.
        warnings.filterwarnings("ignore", message=".*RandomType SharedVariables.*")
        warnings.filterwarnings("ignore", message=".*float64.*not available.*")
        warnings.filterwarnings("ignore", message=".*int64 requested in arange is not available.*")
        warnings.filterwarnings("ignore", message="Skipping Assert.*as JAX tracing would remove it")
        # The C backend without BLAS: expected here (see dae.config).
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        yield


# -- import dae ---------------------------------------------------------------------------------
def test_import_sets_float32_and_tutorial_matrix_is_float32():
    assert pytensor.config.floatX == "float32"
    assert pt.matrix("x").dtype == "float32"


def test_import_respects_the_users_floatx_survives_a_bad_dae_mode_and_imports_no_numba():
    """In a fresh process (what import does happens once): an explicit floatX stays, a bad
    $DAE_MODE breaks no import (the default mode stays; get_mode says what is wrong when a
    command compiles), and Numba is imported only when something compiles."""
    code = ("import sys, dae, pytensor; from dae.numba_mode import BlasNumbaLinker; "
            "print(pytensor.config.floatX, type(pytensor.config.mode.linker) is BlasNumbaLinker, "
            "'numba' in sys.modules)")
    env = {"PATH": os.environ.get("PATH", ""), "PYTENSOR_FLAGS": "floatX=float64", "DAE_MODE": "bogus",
           **{k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME", "NUMBA_CACHE_DIR")}}
    flags = os.environ.get("PYTENSOR_FLAGS")
    if flags:  # keep the caller's compiledir (a cold-cache run), floatX ours
        env["PYTENSOR_FLAGS"] = f"{flags},floatX=float64"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["float64", "True", "False"], out.stdout + out.stderr


def test_mode_names():
    numba_mode = get_mode("numba")
    assert type(numba_mode.linker).__name__ == "BlasNumbaLinker"
    assert get_mode("NUMBA") is numba_mode  # case-insensitive, built once
    assert get_mode("plain_numba") == "NUMBA"
    assert get_mode("c") == "CVM"  # PyTensor's FAST_RUN would be Numba again
    assert get_mode("py") is get_mode("PY") and get_mode("jax") == "JAX"
    assert get_mode("fast_compile") == "FAST_COMPILE"  # PyTensor's own
    assert get_mode(numba_mode) is numba_mode  # a Mode passes through
    with pytest.raises(ValueError, match="unknown compile mode 'fortran': expected one of"):
        get_mode("fortran")


def test_dae_mode_chooses_the_default_and_set_mode_makes_it_pytensors(monkeypatch):
    monkeypatch.setenv("DAE_MODE", "py")
    assert get_mode() is get_mode("py")
    assert set_mode() is get_mode("py") and pytensor.config.mode is get_mode("py")
    monkeypatch.setenv("DAE_MODE", "bogus")
    with pytest.raises(ValueError, match="set DAE_MODE"):
        get_mode()


def test_set_mode_chooses_for_every_dae_function_and_experiment(monkeypatch):
    """A notebook's ``set_mode(name)``: dae's functions compiled without a mode, each
    experiment's default and PyTensor's default use it, over $DAE_MODE; ``set_mode()`` undoes it."""
    from dae.config import default_mode

    monkeypatch.setenv("DAE_MODE", "numba")
    try:
        set_mode("py")
        assert get_mode() is get_mode("py") and pytensor.config.mode is get_mode("py")
        assert default_mode("vae") == default_mode("dA", quick=True) == "py"
        with pytest.raises(ValueError, match="unknown compile mode 'bogus'"):
            set_mode("bogus")
        assert get_mode() is get_mode("py")  # a bad name changed nothing
    finally:
        set_mode()
    assert get_mode() is get_mode("numba") and default_mode("vae") == "numba"


def test_each_experiment_runs_in_its_fastest_mode_unless_one_is_chosen(monkeypatch, tmp_path):
    """The dA, cA, sA and VAE in JAX mode where JAX is installed (their steps are faster there:
    benchmarks/README.md), the SdA at small minibatches and any experiment without JAX in Numba
    mode; $DAE_MODE and --mode (Config.mode) choose instead."""
    import importlib.util

    from dae.config import default_mode
    from dae.experiments import SdA, cA
    from dae.experiments.common import open_session

    monkeypatch.delenv("DAE_MODE", raising=False)
    jax = importlib.util.find_spec("jax") is not None
    assert [default_mode(e) for e in ("dA", "cA", "sA", "vae")] == ["jax" if jax else "numba"] * 4
    assert [default_mode(e) for e in ("SdA", None)] == ["numba"] * 2
    # the SdA's steps turn faster in JAX mode at a minibatch of 10 (at 1 in Numba mode)
    assert [default_mode("SdA", batch=b) for b in (1, 9, 10, 50)] == ["numba"] * 2 + ["jax" if jax else "numba"] * 2
    assert default_mode("dA", batch=1) == default_mode("dA")
    # a quick run (a notebook's quick mode) is mostly compiling: JAX's is the shortest
    assert [default_mode(e, quick=True) for e in ("dA", "SdA", "vae")] == ["jax" if jax else "numba"] * 3
    with monkeypatch.context() as m:
        real = importlib.util.find_spec
        m.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
        assert default_mode("vae") == default_mode("dA", quick=True) == "numba"  # JAX is optional
    monkeypatch.setenv("DAE_MODE", "py")
    assert default_mode("vae") == default_mode("dA", quick=True) == "py"
    monkeypatch.delenv("DAE_MODE")
    for module, config, mode in ((cA, cA.Config(output_dir=tmp_path / "a"), default_mode("cA")),
                                 (cA, cA.Config(output_dir=tmp_path / "b", mode="py"), "py"),
                                 (SdA, SdA.Config(output_dir=tmp_path / "c"), "numba"),
                                 (SdA, SdA.Config(output_dir=tmp_path / "d", batch_size=10),
                                  "jax" if jax else "numba"),
                                 (SdA, SdA.Config(output_dir=tmp_path / "e", batch_size=10,
                                                  pretrain_batch_size=1), "numba")):
        with open_session(module.__name__.rsplit(".", 1)[1], config) as session:
            assert session.config.mode == mode


def test_scalar_is_exact_in_the_dtype_asked_for():
    """0.7 as float64 is 0.7, not float32(0.7) widened; a symbolic scalar is cast."""
    assert scalar(0.7, "float64").dtype == "float64"
    assert scalar(0.7, "float64").data == np.float64(0.7)
    assert scalar(0.7, "float32").data == np.float32(0.7)
    assert scalar(pt.scalar("s", dtype="float64"), "float32").dtype == "float32"


# -- one step per backend -------------------------------------------------------------------------
def _epochs(step, n, *args):
    return [[step(i, *args) for i in range(step.n_steps)] for _ in range(n)]


def _mean_costs(epochs):
    return [np.mean([float(np.ravel(out)[0]) for out in epoch]) for epoch in epochs]


@pytest.fixture(scope="module")
def trained_in_py(compiled_steps):
    """The dA's costs and parameters after 20 epochs in Python mode: what every backend must give."""
    model, [step] = compiled_steps("dA", "py")
    costs = _mean_costs(_epochs(step, 20))
    return costs, [p.get_value() for p in model.params]


@pytest.mark.parametrize("mode", MODES)
def test_the_dA_trains_in_every_mode_fresh_masks_each_step_and_stays_float32(mode, compiled_steps,
                                                                             trained_in_py):
    model, [step] = compiled_steps("dA", mode)
    epochs = _epochs(step, 20)  # last minibatch: 8 rows
    costs = _mean_costs(epochs)
    assert costs[-1] < 0.8 * costs[0], costs
    assert all(p.get_value().dtype == np.float32 for p in model.params)
    # minibatch 0's corrupted input in each epoch: a backend that kept its random state repeats it
    signatures = {float(epoch[0][1]) for epoch in epochs}
    assert len(signatures) > 1, signatures
    if mode != "jax":  # JAX has random numbers of its own; the others draw NumPy's
        np.testing.assert_allclose(costs, trained_in_py[0], rtol=1e-4)
        for got, want in zip((p.get_value() for p in model.params), trained_in_py[1]):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@needs_jax
@pytest.mark.parametrize("name", ["cA", "VAE"])
def test_jax_trains_the_cA_and_the_VAE(name, compiled_steps):
    model, [step] = compiled_steps(name, "jax")
    costs = _mean_costs(_epochs(step, 8))
    assert np.all(np.isfinite(costs)) and costs[-1] < costs[0], costs
    assert all(p.get_value().dtype == np.float32 for p in model.params)


@needs_jax
def test_jax_fine_tunes_the_SdA_as_python_mode_does(compiled_steps):
    """Fine-tuning draws no random numbers, so JAX must give Python mode's numbers."""
    model, steps = compiled_steps("SdA", "jax")
    jax_costs = _mean_costs(_epochs(steps[2], 4))
    _, py_steps = compiled_steps("SdA", "py")
    np.testing.assert_allclose(jax_costs, _mean_costs(_epochs(py_steps[2], 4)), rtol=1e-4)
    assert jax_costs[-1] < jax_costs[0]
    assert all(p.get_value().dtype == np.float32 for p in model.params)


@needs_jax
def test_jax_pretrains_the_SdA(compiled_steps):
    _, steps = compiled_steps("SdA", "jax")
    for pretrain in steps[:2]:
        costs = _mean_costs(_epochs(pretrain, 8, 0.2, 0.5))
        assert np.all(np.isfinite(costs)) and costs[-1] < costs[0], costs
