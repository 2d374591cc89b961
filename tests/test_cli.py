"""dae.cli, the dae command: training runs that resume exactly, Ctrl-C, model commands, and
one clear message (no traceback) for each bad input.

In this process (``cli.main``), with tiny --data arrays and the Python compile mode
(``--mode py``), which compiles these small graphs far faster than Numba. Three tests start
a real process, for what only a process shows: the installed ``dae`` console script, the
``python -m dae.cli`` entry, and Ctrl-C.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from dae import cli, io
from dae.customdata import load_images
from dae.data import DataError

FAST = ["--mode", "py", "--quiet"]
TINY = ["--n-hidden", "8", "--batch-size", "10", "--corruption", "0.3", *FAST]


def _dae(*argv, timeout=120, **popen):
    """Run the dae command in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "dae.cli", *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, **popen)


def _main(capsys, *argv):
    """Run the dae command in this process; return (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def _images(path, n=60, shape=(4, 4), seed=0):
    np.save(path, (np.random.default_rng(seed).random((n, *shape)) * 255).astype(np.uint8))
    return path


def _params(path):
    return io.read(path).params


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 16-8 dA trained 2 epochs on 60 4x4 images: (data path, output dir)."""
    where = tmp_path_factory.mktemp("trained")
    data = _images(where / "tiny.npy")
    assert cli.main(["train", "dA", "--data", str(data), "--epochs", "2", "--output-dir",
                     str(where / "out"), *TINY]) == 0
    return data, where / "out"


# -- training runs ------------------------------------------------------------------------
def test_two_plus_two_epochs_resumed_equal_four(tmp_path, trained, capsys):
    data, _ = trained
    run = tmp_path / "run"
    status, _, err = _main(capsys, "train", "dA", "--data", data, "--epochs", 2, "--output-dir", run, *TINY)
    assert status == 0, err
    status, out, err = _main(capsys, "train", "dA", "--output-dir", run, "--resume", "--epochs", 4, "--mode", "py")
    assert status == 0, err
    assert "epoch   2" in out and "epoch   0" not in out
    status, _, _ = _main(capsys, "train", "dA", "--data", data, "--epochs", 4, "--output-dir",
                         tmp_path / "whole", *TINY)
    assert status == 0
    for a, b in zip(_params(run / "dA_corruption_30.npz"), _params(tmp_path / "whole" / "dA_corruption_30.npz")):
        np.testing.assert_array_equal(a, b)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    assert all(set(r) == {"stage", "epoch", "cost", "seconds"} for r in records)
    for name in ("learning_curve.png", "filters_corruption_30.png", "checkpoint.npz"):
        assert (run / name).stat().st_size > 0


def test_ctrl_c_saves_says_how_to_resume_and_resume_is_exact(tmp_path, capsys):
    data = tmp_path / "rows.npy"
    np.save(data, np.random.default_rng(1).random((1000, 16)).astype(np.float32))
    flags = ["--data", data, "--epochs", 3, "--n-hidden", 8, "--batch-size", 1, "--corruption", 0.3, *FAST]
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "dae.cli", "train", "dA", "--output-dir",
                                str(run), *map(str, flags)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and f"--output-dir {run} --resume" in err and "saved" in err
    training = io.read(run / "checkpoint.npz").info["training"]
    assert not training["finished"] and training["epochs"] >= 1
    status, out, _ = _main(capsys, "train", "dA", "--output-dir", run, "--resume", "--quiet")
    assert status == 0
    status, _, _ = _main(capsys, "train", "dA", "--output-dir", tmp_path / "whole", *flags)
    for a, b in zip(_params(run / "dA_corruption_30.npz"), _params(tmp_path / "whole" / "dA_corruption_30.npz")):
        np.testing.assert_array_equal(a, b)


def test_resume_keeps_the_runs_flags_and_refuses_changed_ones(trained, capsys):
    _, out = trained
    status, _, err = _main(capsys, "train", "dA", "--output-dir", out, "--resume", "--n-hidden", 9)
    assert status == 1 and "--n-hidden 9 differs from the run being resumed (--n-hidden 8)" in err
    status, stdout, _ = _main(capsys, "train", "dA", "--output-dir", out, "--resume", *FAST)
    assert status == 0 and "corruption_30: all 2 epochs done already" in stdout
    assert " epoch " not in stdout  # finished: nothing left to train


def test_a_diverging_learning_rate_stops_with_advice(tmp_path, trained, capsys):
    data, _ = trained
    with pytest.warns(RuntimeWarning):  # 1e39 overflows float32: the step is inf
        status, _, err = _main(capsys, "train", "dA", "--data", data, "--epochs", 2,
                               "--learning-rate", "1e39", "--output-dir", tmp_path / "run", *TINY)
    assert status == 1 and "cost became nan" in err and "lower learning rate" in err
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


# -- model commands -------------------------------------------------------------------------
def test_filters_reconstruct_info_and_eval(tmp_path, trained, capsys):
    data, out = trained
    model = out / "dA_corruption_30.npz"
    status, stdout, _ = _main(capsys, "filters", model, "--out", tmp_path / "f.png")
    assert status == 0 and "8 of the 8" in stdout
    assert Image.open(tmp_path / "f.png").size == (3 * 5 - 1, 3 * 5 - 1)  # 3x3 tiles of 4x4
    status, _, _ = _main(capsys, "reconstruct", model, "--data", data, "--out", tmp_path / "r.png",
                         "--corruption", "0.5", "--mode", "py")
    assert status == 0 and Image.open(tmp_path / "r.png").size == (10 * 5 - 1, 3 * 5 - 1)
    status, stdout, _ = _main(capsys, "info", model)
    assert status == 0
    for text in ("dA model", "n_hidden=8", "(16, 8)", "image shape: 4x4", "2 epochs of corruption_30"):
        assert text in stdout, stdout
    status, stdout, _ = _main(capsys, "eval", model, "--data", data, "--mode", "py")
    W, b, b_prime = _params(model)
    x = np.load(data).reshape(60, 16) / 255.0
    a = 1 / (1 + np.exp(-(x @ W + b))) @ W.T + b_prime
    expected = np.mean(np.sum(np.logaddexp(0, a) - x * a, axis=1))
    assert status == 0 and f"{expected:.4f}" in stdout, (expected, stdout)


def test_filters_need_an_image_shape_for_non_square_inputs(tmp_path, capsys):
    from dae.dA import dA
    path = dA(np.random.RandomState(0), n_visible=12, n_hidden=4).save(tmp_path / "m.npz")
    status, _, err = _main(capsys, "filters", path, "--out", tmp_path / "f.png")
    assert status == 1 and "--image-shape" in err
    status, _, _ = _main(capsys, "filters", path, "--out", tmp_path / "f.png", "--image-shape", 3, 4)
    assert status == 0 and Image.open(tmp_path / "f.png").size == (2 * 5 - 1, 2 * 4 - 1)


def test_help_lists_the_commands(capsys):
    status, out, _ = _main(capsys, "--help")
    assert status == 0
    for command in ("train", "filters", "reconstruct", "sample", "eval", "info"):
        assert command in out


# -- bad input: one line, what was expected, what came, what to do -------------------------------
def _bad(tmp_path):
    rng = np.random.default_rng(2)
    nan = rng.random((20, 16)).astype(np.float32)
    nan[3, 5] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "wide.npy", rng.random((20, 16)).astype(np.float32) * 255)
    np.save(tmp_path / "other.npy", rng.random((20, 25)).astype(np.float32))
    (tmp_path / "empty").mkdir()
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    return tmp_path


BAD_INPUTS = {
    "NaN pixels": (["train", "dA", "--data", "{d}/nan.npy"], 1, "1 NaN and 0 infinite"),
    "pixels outside [0, 1]": (["train", "dA", "--data", "{d}/wide.npy"], 1, "needs them in [0, 1]"),
    "wrong dimension": (["eval", "{model}", "--data", "{d}/other.npy"], 1,
                        "has 25 values per example (5x5 images), but the model takes 16"),
    "missing data file": (["train", "dA", "--data", "{d}/none.npy"], 1, "no such file or folder"),
    "empty MNIST folder": (["train", "dA", "--data-dir", "{d}/empty"], 1, "no MNIST in"),
    "damaged model": (["info", "{d}/cut.npz"], 1, "damaged or not a dae model file"),
    "sample from a dA": (["sample", "{model}", "--out", "{d}/s.png"], 1, "draws from a VAE"),
    "unknown flag": (["train", "dA", "--hidden", "3"], 2, "unrecognized arguments: --hidden"),
    "out of range": (["train", "dA", "--corruption", "1.5"], 2, "expected a value in [0, 1], got 1.5"),
    "both data flags": (["train", "dA", "--data", "x.npy", "--data-dir", "y"], 2, "not allowed with"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_one_clear_message(tmp_path, trained, capsys, case):
    argv, code, message = BAD_INPUTS[case]
    folder = _bad(tmp_path)
    argv = [a.format(d=folder, model=trained[1] / "dA_corruption_30.npz") for a in argv]
    status, out, err = _main(capsys, *argv, "--output-dir", tmp_path / "out", *FAST) \
        if argv[0] == "train" else _main(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == code and message in lines[-1], err
    assert "Traceback" not in err and (len(lines) == 1 or lines[0].startswith("usage:"))
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_console_script_gives_a_bad_input_one_line_in_a_real_process(tmp_path):
    """The installed ``dae`` command (setup.py's entry point), as a user runs it."""
    script = shutil.which("dae", path=os.path.dirname(sys.executable)) or shutil.which("dae")
    if script is None:
        pytest.skip("the dae console script is not installed (pip install -e .)")
    result = subprocess.run([script, "eval", str(tmp_path / "missing.npz")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"dae: error: {tmp_path / 'missing.npz'}: no such file\n"
    assert result.stdout == ""


# -- custom data through the command --------------------------------------------------------


def test_png_folder_trains_and_mixed_sizes_are_refused(tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    pixels = (np.random.default_rng(0).random((12, 5, 6)) * 255).astype(np.uint8)
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(folder / f"{i:02d}.png")
    Image.fromarray(pixels[0]).convert("RGB").save(folder / "12.png")  # colour: read as grey
    images = load_images(folder)
    assert images.x.shape == (13, 30) and images.image_shape == (5, 6)
    np.testing.assert_allclose(images.x[3], pixels[3].reshape(-1) / 255, rtol=1e-6)
    status, _, err = _main(capsys, "train", "dA", "--data", folder, "--epochs", 1, "--output-dir",
                           tmp_path / "out", *TINY)
    assert status == 0, err
    assert io.read(tmp_path / "out" / "dA_corruption_30.npz").info["image_shape"] == [5, 6]
    Image.fromarray(pixels[0][:4]).save(folder / "13.png")
    with pytest.raises(DataError, match="13.png is 6x4 pixels but 00.png is 6x5"):
        load_images(folder)


def test_vae_files_sample_reconstruct_and_eval(tmp_path, trained, capsys):
    from dae.VAE import VAE
    data, _ = trained
    path = io.save(VAE(np.random.RandomState(0), n_visible=16, hidden_layers_sizes=[6], n_latent=2),
                   tmp_path / "vae.npz", info={"image_shape": [4, 4]})
    status, stdout, _ = _main(capsys, "sample", path, "--out", tmp_path / "s.png", "--count", 6,
                              "--mode", "py")
    assert status == 0 and Image.open(tmp_path / "s.png").size == (3 * 5 - 1, 2 * 5 - 1)
    status, _, _ = _main(capsys, "reconstruct", path, "--data", data, "--out", tmp_path / "r.png",
                         "--mode", "py")
    assert status == 0 and Image.open(tmp_path / "r.png").size == (10 * 5 - 1, 2 * 5 - 1)
    status, stdout, _ = _main(capsys, "eval", path, "--data", data, "--samples", 3, "--mode", "py")
    elbo, nll = (float(stdout.split(word)[1].split()[0]) for word in ("ELBO", "NLL <="))
    assert status == 0 and elbo < 0 and 0 < nll <= -elbo + 1.0, stdout  # L_k >= ELBO, up to noise


def test_sda_files_eval_filters_and_no_reconstruct(tmp_path, capsys):
    from dae.SdA import SdA
    rng = np.random.default_rng(4)
    sda = SdA(np.random.RandomState(0), n_ins=16, hidden_layers_sizes=[6], n_outs=3,
              corruption_levels=[0.1])
    sda.logLayer.W.set_value(rng.standard_normal((6, 3)).astype(np.float32))
    path = io.save(sda, tmp_path / "sda.npz")
    x, y = rng.random((40, 16)).astype(np.float32), rng.integers(0, 3, 40)
    np.savez(tmp_path / "labelled.npz", x=x, y=y)
    status, stdout, _ = _main(capsys, "eval", path, "--data", tmp_path / "labelled.npz", "--mode", "py")
    W, b, V, c = _params(path)[:4]
    predicted = np.argmax(1 / (1 + np.exp(-(x @ W + b))) @ V + c, axis=1)
    wrong = int(np.sum(predicted != y))
    assert status == 0 and f"({wrong} of 40 examples" in stdout, (wrong, stdout)
    status, _, _ = _main(capsys, "filters", path, "--out", tmp_path / "f.png")
    assert status == 0 and Image.open(tmp_path / "f.png").size == (3 * 5 - 1, 2 * 5 - 1)
    np.save(tmp_path / "unlabelled.npy", x)
    status, _, err = _main(capsys, "eval", path, "--data", tmp_path / "unlabelled.npy")
    assert status == 1 and "no labels" in err
    status, _, err = _main(capsys, "reconstruct", path, "--out", tmp_path / "r.png")
    assert status == 1 and "classifier" in err


def test_module_entry_gives_a_user_error_one_line(tmp_path):
    """Under ``python -m dae.cli`` a user error is one line too (UserError exists once, though
    the module runs as __main__)."""
    out = _dae("train", "dA", "--corruption", "0.3", "0.3", "--output-dir", tmp_path / "o")
    assert out.returncode == 1 and out.stderr.strip() == (
        "dae: error: --corruption 0.3 0.3 repeats a level (to the percent); give each level once")
    assert not (tmp_path / "o").exists()


def test_a_bad_dae_mode_leaves_help_working_and_training_says_what_is_wrong(tmp_path, capsys,
                                                                          monkeypatch):
    monkeypatch.setenv("DAE_MODE", "bogus")
    assert _main(capsys, "--help")[0] == 0
    status, out, err = _main(capsys, "train", "dA", "--output-dir", tmp_path / "o")
    assert status == 1 and err.startswith("dae: error: unknown compile mode 'bogus'")
    assert len(err.strip().splitlines()) == 1 and out == "" and not (tmp_path / "o").exists()
