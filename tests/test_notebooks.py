"""The notebooks: committed without outputs, and each runs top to bottom in a real Jupyter
kernel (nbclient, the ``python3`` kernel that ipykernel installs with this environment) in
quick mode, ``DAE_QUICK=1``; a cell that raises fails its test. Also: the kernel's stop
button (an interrupt, SIGINT) during :func:`dae.train.fit` stops it cleanly.

Time on the 2-core development machine, shared with other jobs: about a minute for this file
when Numba's cache already holds the notebooks' functions (5-21 s a notebook), about six
minutes from a cold cache (31-97 s a notebook, nearly all of it compilation).
"""
import json
import sys
import time
from pathlib import Path

import pytest

from conftest import mnist_dir

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["dA", "cA", "sA", "SdA", "VAE", "theano_tutorials"]
CELL_TIMEOUT = 600  # seconds; a quick cell takes well under one


def _read(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_the_python3_kernel_runs_this_interpreter():
    # ipykernel installs the python3 kernelspec into this environment and jupyter_client starts
    # it with sys.executable; a user-wide python3 kernelspec would shadow it and test another
    # Python.
    from jupyter_client.manager import KernelManager

    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), (
        f"the python3 kernel runs {command[0]}, not this interpreter ({sys.executable}); remove "
        "the python3 kernelspec that shadows ipykernel's (jupyter kernelspec list)")


def test_every_tutorial_has_its_notebook_and_no_other_is_untested():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    with_outputs = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count]
    assert not with_outputs, (f"{name}.ipynb holds outputs in code cells {with_outputs}: clear them "
                              "(jupyter nbconvert --clear-output --inplace) before committing")
    assert "DAE_QUICK" in code[0].source, "the first code cell must say what DAE_QUICK=1 changes"
    # nbformat 4.5 gives every cell an id; reading adds missing ones with a warning (an error
    # in future nbformat versions), so the file on disk must hold them
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    assert all("id" in cell for cell in cells), f"{name}.ipynb has cells without an id"


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_in_a_kernel(name, monkeypatch):
    data = mnist_dir()
    if data is None:
        pytest.skip("MNIST not found: set DAE_DATA_DIR to the folder of the four IDX files")
    monkeypatch.setenv("DAE_DATA_DIR", str(data))  # the kernel inherits the environment
    monkeypatch.setenv("DAE_QUICK", "1")
    nb = _read(name)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors


TRAIN_UNTIL_STOPPED = """
import signal, time
import numpy as np
from dae.dA import dA
from dae.train import compile_step, fit

da = dA(np.random.RandomState(0), n_visible=12, n_hidden=5)
cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
step = compile_step({da.x: np.random.RandomState(1).rand(40, 12).astype("float32")}, 4, cost,
                    updates, "py")
calls = []

def slow_step(i):
    calls.append(i)
    if len(calls) == 25:
        print("training", flush=True)
    time.sleep(0.01)
    return step(i)

history = fit(slow_step, step.n_steps, 10**6)  # ends only when interrupted
"""

AFTER = """
import sys
stopped = sys.last_value
assert isinstance(stopped, KeyboardInterrupt) and len(stopped.history) == stopped.epoch >= 2
assert len(calls) == stopped.epoch * step.n_steps + stopped.steps  # no step cut short
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
print(len(fit(step, step.n_steps, 1)), all(np.isfinite(p.get_value()).all() for p in da.params))
"""


@pytest.mark.integration
def test_the_stop_button_stops_training_cleanly_in_a_kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        # stop_on_error=False: the kernel would otherwise abort the next cell, sent right after
        msg_id = kc.execute(TRAIN_UNTIL_STOPPED, stop_on_error=False)
        deadline = time.monotonic() + 120
        while True:  # interrupt once training has begun
            msg = kc.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream" \
                    and "training" in msg["content"]["text"]:
                break
        km.interrupt_kernel()  # what the stop button does
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:  # start_new_kernel's kernel_info reply
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "FitInterrupted", reply["content"]
        reply = kc.execute_interactive(AFTER, timeout=60, output_hook=_collect(outputs := []))
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "".join(outputs).split() == ["1", "True"]  # the model trains on, finite
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _collect(into):
    def hook(msg):
        if msg["msg_type"] == "stream":
            into.append(msg["content"]["text"])
    return hook
