"""Lasagne 0.1 on dae.theano: a small network trains, and Lasagne's own test suite runs.

Lasagne is test material, never a dependency of dae: every test here skips,
saying why, where it is not installed (``pip install Lasagne==0.1``). Lasagne
runs in a child process whose ``import theano`` gives dae.theano, so that its
``theano`` never reaches the other tests. Its test suite ships in its source
release, not in the installed package: the suite test fetches that release
with pip (skipping if it cannot) and runs it in dae's Python mode (the suite
compiles some hundreds of functions; dae's Numba mode would spend minutes in
Numba's compiler).
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

import pytest

# Skips the suite may make without a GPU, and tests needing what is not this
# module's work, each with the reason (run them with -rs, -rf to see more).
GPU_SKIP = re.compile(r"cuda_convnet|corrmm|dnn|cuDNN|--runslow|empty parameter set")
def run_python(code, mode, timeout=900, cwd=None, args=()):
    env = dict(os.environ, DAE_MODE=mode)
    return subprocess.run([sys.executable, *(["-c", code] if code else []), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def lasagne():
    """Skips unless Lasagne imports on dae.theano in a child process."""
    if importlib.util.find_spec("lasagne") is None:
        pytest.skip("Lasagne is not installed: pip install Lasagne==0.1 (test material for "
                    "dae.theano, not a dependency of dae)")
    out = run_python("import dae.theano; dae.theano.install(); import lasagne", "py")
    if out.returncode:
        missing = re.search(r"No module named '([^']+)'", out.stderr)
        if missing and not missing.group(1).startswith("theano"):
            pytest.skip(f"Lasagne needs {missing.group(1)!r}, which is not installed "
                        f"(pip install {missing.group(1).split('.')[0]})")
        pytest.fail("Lasagne does not import on dae.theano: " + out.stderr.strip().splitlines()[-1])


NETWORK = """
import json
import numpy as np
import dae.theano
dae.theano.install()
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import Conv2DLayer, DenseLayer, InputLayer, MaxPool2DLayer

rng = np.random.RandomState(0)
X = rng.rand(40, 1, 12, 12).astype(theano.config.floatX)
y = (X[:, 0, :6].mean(axis=(1, 2)) > X[:, 0, 6:].mean(axis=(1, 2))).astype("int32")
lasagne.random.set_rng(np.random.RandomState(1))
net = InputLayer((None, 1, 12, 12))
net = Conv2DLayer(net, num_filters=4, filter_size=(3, 3), pad="same")
net = MaxPool2DLayer(net, pool_size=(2, 2))
net = DenseLayer(net, num_units=2, nonlinearity=lasagne.nonlinearities.softmax)
x_var, y_var = T.tensor4("x"), T.ivector("y")
loss = lasagne.objectives.categorical_crossentropy(lasagne.layers.get_output(net, x_var), y_var).mean()
params = lasagne.layers.get_all_params(net, trainable=True)
train = theano.function([x_var, y_var], loss, updates=lasagne.updates.momentum(loss, params, 0.1))
print(json.dumps({"losses": [float(train(X, y)) for _ in range(40)],
                  "shape": lasagne.layers.get_output_shape(net, (40, 1, 12, 12))}))
"""


def test_a_small_lasagne_network_trains_the_same_in_numba_and_python_modes(lasagne):
    """Conv2DLayer, MaxPool2DLayer and DenseLayer, momentum SGD, on dae.theano."""
    runs = {}
    for mode in ("numba", "py"):
        out = run_python(NETWORK, mode)
        assert out.returncode == 0, f"{mode}: {out.stderr.strip().splitlines()[-1]}"
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    losses = runs["numba"]["losses"]
    assert runs["numba"]["shape"] == [40, 2]
    assert losses[-1] < 0.5 * losses[0], f"the loss did not fall: {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert runs["py"]["losses"] == pytest.approx(losses, rel=1e-3)


@pytest.fixture(scope="module")
def suite(lasagne, tmp_path_factory):
    """Lasagne 0.1's own tests, run on dae.theano: {test id: (outcome, message)}."""
    folder = tmp_path_factory.mktemp("lasagne")
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                          ":all:", "-d", str(folder), "Lasagne==0.1"], capture_output=True, text=True)
    releases = list(folder.glob("Lasagne-0.1*.tar.gz"))
    if got.returncode or not releases:
        pytest.skip("could not fetch Lasagne 0.1's source release (its tests are not installed): "
                    + (got.stderr.strip().splitlines() or ["no file"])[-1])
    root = folder / "suite"
    with tarfile.open(releases[0]) as tar:
        members = [m for m in tar.getmembers() if "/lasagne/tests/" in m.name]
        for m in members:
            m.name = m.name.split("/lasagne/", 1)[1]
        tar.extractall(root, members=members, filter="data")
    # Lasagne's own package conftest and setup.cfg predate pytest 9; only its tests are run,
    # under a conftest that makes ``import theano`` give dae.theano.
    (root / "conftest.py").write_text("import dae.theano\ndae.theano.install()\n")
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: Lasagne's slow tests\n")
    report = folder / "report.xml"
    out = run_python(None, "py", timeout=1800, cwd=root, args=(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-W",
        "ignore::DeprecationWarning", f"--junitxml={report}", "tests"))
    if not report.exists():
        pytest.fail("Lasagne's suite did not run: " + (out.stderr or out.stdout).strip()[-500:])
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome, message = tag, found.get("message", "")
        results[f"{case.get('classname')}::{case.get('name')}"] = (outcome, message)
    counts = {k: sum(o == k for o, _ in results.values()) for k in ("passed", "failure", "error",
                                                                   "skipped")}
    print(f"\nLasagne 0.1's suite on dae.theano (py mode): {counts}")
    for test, (outcome, message) in sorted(results.items()):
        if outcome in ("failure", "error"):
            print(f"  {outcome}: {test}: {message.splitlines()[0][:150] if message else ''}")
    return results


def test_lasagne_suite_passes_whole(suite):
    """Every test of Lasagne 0.1's own suite (its layers, the recurrent ones, init, objectives,
    regularization, updates, utils) passes or skips for want of a GPU."""
    assert sum(outcome == "passed" for outcome, _ in suite.values()) > 400, "the suite hardly ran"
    for files in (("test_conv", "test_pool", "test_dense"), ("test_recurrent",)):
        assert any(o == "passed" and re.search(rf"\b({'|'.join(files)})(\.|::)", t)
                   for t, (o, _) in suite.items()), f"no test of {files} passed"
    failed = {t: m[:200] for t, (o, m) in suite.items() if o in ("failure", "error")}
    assert not failed, failed


def test_lasagne_suite_skips_only_what_needs_a_gpu(suite):
    """As on a Theano without a GPU: the cuDNN and cuda-convnet tests skip, nothing else."""
    skipped = {t: m for t, (o, m) in suite.items() if o == "skipped" and not GPU_SKIP.search(m)}
    assert not skipped, skipped
