"""Ctrl-C at every boundary of an SdA and a VAE run: exit 130, one line, an exact resume.

Each case presses Ctrl-C (raises SIGINT) at one point of a tiny run through ``dae train``
(in this process, MNIST replaced by random images), checks the exit status and the one
line the user sees, then resumes as that line says (or, when nothing was saved, starts
again) and checks the run ends bit-identical to an uninterrupted one.
"""
import json
import signal
from pathlib import Path

import pytensor
import pytest

from dae import io, plots, records
from dae.evaluate import Evaluator
from dae.experiments import SdA as sda_experiment, vae as vae_experiment
from dae.session import Session

from test_experiments import SDA, VAE, _records, _same_params, _train, tiny_mnist  # noqa: F401


class Press:
    """Ctrl-C at the ``at``-th call of ``owner.name``: before the call, or inside a block that
    swallows the KeyboardInterrupt (as Python 3.11 makes an import do)."""

    def __init__(self, monkeypatch, owner, name, at=1, swallow=False):
        real, self.calls = getattr(owner, name), 0

        def pressing(*args, **kwargs):
            self.calls += 1
            if self.calls == at:
                try:
                    signal.raise_signal(signal.SIGINT)
                except KeyboardInterrupt:
                    if not swallow:
                        raise
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, name, pressing)


def _function_calls_at(n):
    return lambda m: Press(m, pytensor, "function", at=n)


CASES = {
    # name: (experiment, how to press, what the line says)
    "SdA before the first epoch": ("SdA", lambda m: Press(m, Session, "fit"), "nothing was saved"),
    "SdA during the first compile": ("SdA", _function_calls_at(1), "nothing was saved"),
    "SdA during a compile after pretraining": ("SdA", _function_calls_at(4), "Resume with:"),
    "SdA between stages, the press swallowed": (
        "SdA", lambda m: Press(m, records, "draw_quietly", swallow=True), "interrupted before pretrain_1"),
    "SdA during the first picture": ("SdA", lambda m: Press(m, plots, "learning_curve"), "Resume with:"),
    "SdA during a checkpoint's save": ("SdA", lambda m: Press(m, io, "save", at=3), "interrupted in pretrain_1, epoch 1"),
    "SdA after the last line": ("SdA", lambda m: Press(m, sda_experiment, "result"), "every file written"),
    "VAE before the first epoch": ("vae", lambda m: Press(m, Session, "fit"), "nothing was saved"),
    "VAE during a compile": ("vae", _function_calls_at(2), "interrupted"),
    "VAE during evaluation": ("vae", lambda m: Press(m, Evaluator, "iwae"), "interrupted in evaluate"),
    "VAE during the first picture": ("vae", lambda m: Press(m, plots, "samples_image"), "Resume with:"),
    "VAE during a save": ("vae", lambda m: Press(m, io, "save", at=2), "interrupted in vae, epoch 2"),
    "VAE after the last line": ("vae", lambda m: Press(m, vae_experiment, "result"), "every file written"),
}
FLAGS = {"SdA": SDA, "vae": VAE}
MODEL = {"SdA": "best_model.npz", "vae": "vae.npz"}


@pytest.mark.parametrize("case", CASES)
def test_ctrl_c_exits_130_with_one_line_and_the_run_resumes_exactly(case, tiny_mnist, tmp_path, capsys,
                                                                    monkeypatch):
    model, press, said = CASES[case]
    whole, out = tmp_path / "whole", tmp_path / "cut"
    assert _train(capsys, model, whole, *FLAGS[model])[0] == 0
    with monkeypatch.context() as m:
        press(m)
        status, _, err = _train(capsys, model, out, *FLAGS[model])
    lines = err.strip().splitlines()
    assert status == 130 and len(lines) == 1 and said in lines[0], err
    assert "Traceback" not in err
    if "Resume with:" in lines[0]:
        command = lines[0].split("Resume with: ")[1].split()
        assert command[:3] == ["dae", "train", model] and command[-1] == "--resume"
        status, stdout, err = _train(capsys, model, out, "--resume")
    elif "nothing was saved" in lines[0]:
        assert not (out / "checkpoint.npz").exists()
        status, stdout, err = _train(capsys, model, out, *FLAGS[model])
    else:  # pressed after the run's last line: everything is there, and resuming redoes nothing
        status, stdout, err = _train(capsys, model, out, "--resume")
    assert status == 0, err
    _same_params(whole / MODEL[model], out / MODEL[model])
    assert _records(whole) == _records(out)
    if model == "vae":
        a, b = (json.loads((d / "results.json").read_text()) for d in (whole, out))
        assert (a["test_elbo"], a["test_nll"]) == (b["test_elbo"], b["test_nll"])
    assert io.read(out / "checkpoint.npz").info["training"]["finished"]


def test_a_stop_request_is_never_lost_and_a_second_press_stops_at_once(monkeypatch):
    from dae import interrupt

    with interrupt.handling():
        with interrupt.stoppable():
            signal.raise_signal(signal.SIGINT)  # asks only
            assert interrupt.requested()
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)  # the second: at once
        interrupt.clear()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # outside a stoppable block: at once...
        with pytest.raises(interrupt.StopRequested):
            interrupt.check()  # ...and recorded, for the next boundary
    assert not interrupt.installed() and not interrupt.requested()


@pytest.mark.parametrize("after", [0.5, 1.5, 3.0, 5.0])
def test_ctrl_c_in_the_first_seconds_of_a_real_process_is_one_line(tmp_path, after):
    """From the console script's first lines (before dae and PyTensor are imported) through the
    flags, the data and the first compile: exit 130 and one line, never a traceback. (Python's
    own first ~50 ms, before any of the script's code runs, are out of anyone's reach.)"""
    import shutil
    import subprocess
    import sys
    import time

    import numpy as np

    script = shutil.which("dae", path=str(Path(sys.executable).parent)) or shutil.which("dae")
    if script is None:
        pytest.skip("the dae console script is not installed (pip install -e .)")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((40, 16)).astype("float32"))
    run = subprocess.Popen([script, "train", "dA", "--data", str(data), "--n-hidden", "4", "--epochs",
                            "100000", "--output-dir", str(tmp_path / "run"), "--quiet", "--mode", "py"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    if "init_import_site" in err:  # a loaded machine: still in Python's own start, out of reach
        pytest.skip(f"the press landed in Python's start-up, before the script's first line ({after} s)")
    lines = err.strip().splitlines()
    assert run.returncode == 130 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("dae: interrupted"), err
