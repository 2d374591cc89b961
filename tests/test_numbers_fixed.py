"""Every experiment's numbers are pinned, mode by mode, before the run-API redesign (issue 19)
changes the code above the models: a tiny run of each writes its metrics.jsonl (times
dropped) and model files, and their SHA-256 must equal the ones recorded in
tests/baselines/numbers.json by the code that was there before.

The pins hold only where they were recorded: PyTensor, Numba, JAX and NumPy change float
results between releases, and the same code sums in another order on another CPU (Numba's
LLVM and XLA compile for the host's vector units, OpenBLAS picks its kernels by CPU or by
OPENBLAS_CORETYPE). numbers.json keeps one set of pins per such setting; where none was
recorded the test says so and skips. ``DAE_RECORD_BASELINES=1 pytest
tests/test_numbers_fixed.py`` records this setting's pins: do that for a new setting only
after checking that the pre-redesign commit (ef0f925) gives the same numbers on it as HEAD,
and when a change of numbers is meant, say why in the commit.
"""
import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from dae import cli, io

from test_experiments import SDA, VAE, _records, _splits

BASELINES = Path(__file__).parent / "baselines" / "numbers.json"
PACKAGES = ["pytensor", "numba", "jax", "jaxlib", "numpy"]
SMALL = ["--epochs", "2", "--n-hidden", "5", "--batch-size", "10", "--quiet"]
EXPERIMENTS = {
    "dA": ["dA", *SMALL, "--corruption", "0", "0.3"],
    "dA-gaussian": ["dA", *SMALL, "--corruption", "0.2", "--corruption-type", "gaussian"],
    "cA": ["cA", *SMALL],
    "sA": ["sA", *SMALL],
    "sA-lbfgs": ["sA", "--optimizer", "lbfgs", "--lbfgs-iterations", "5", *SMALL],
    "SdA": ["SdA", *[f for f in SDA if f not in ("py", "--mode")]],
    "vae": ["vae", *[f for f in VAE if f not in ("py", "--mode")]],
}
MODES = ["py", "numba", "jax"]
# The SdA and the VAE in JAX mode were strict xfails until issue 22 closed their gaps (a JAX
# array in the SdA checkpoint's metadata; the IWAE bound's shapes): their pins are JAX mode's
# numbers since then, recorded with the rest. JAX draws other random numbers than NumPy from a
# seed, so every jax pin differs from the numba and py ones.


def setting():
    """What the numbers depend on besides the code: package versions, the CPU's vector units
    (as NumPy finds them) and the OpenBLAS kernels asked for."""
    return {**{name: version(name) for name in PACKAGES},
            "simd": np.show_config(mode="dicts")["SIMD Extensions"]["found"],
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def fingerprint(out):
    """SHA-256 of the run's records (times dropped) and of every array of its model files."""
    digest = {"metrics.jsonl": hashlib.sha256(json.dumps(_records(out)).encode()).hexdigest()}
    for path in sorted(out.glob("*.npz")):
        if path.name == "checkpoint.npz":
            continue
        h = hashlib.sha256()
        for array in io.read(path).params:
            h.update(np.ascontiguousarray(array).tobytes())
        digest[path.name] = h.hexdigest()
    return digest


@pytest.mark.parametrize("name, mode", [(name, mode) for name in EXPERIMENTS for mode in MODES])
def test_numbers_are_those_recorded_before_the_redesign(name, mode, tmp_path, monkeypatch, capsys):
    if mode == "jax":
        pytest.importorskip("jax")
    splits = _splits()
    monkeypatch.setattr("dae.data.load_mnist", lambda *args, **kwargs: splits)
    model, *flags = EXPERIMENTS[name]
    assert cli.main(["train", model, "--output-dir", str(tmp_path), "--mode", mode, *flags]) == 0, \
        capsys.readouterr().err
    got = fingerprint(tmp_path)
    pins = json.loads(BASELINES.read_text()) if BASELINES.exists() else []
    here = next((p for p in pins if p["setting"] == setting()), None)
    if os.environ.get("DAE_RECORD_BASELINES") == "1":
        if here is None:
            pins.append(here := {"setting": setting(), "runs": {}})
        here["runs"][f"{name}/{mode}"] = got
        BASELINES.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
        return
    if here is None:
        pytest.skip(f"no pins recorded for {setting()} (recorded for: "
                    f"{[p['setting'] for p in pins]})")
    assert got == here["runs"][f"{name}/{mode}"]
