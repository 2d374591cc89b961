"""Issue 21, the second bad-input probe: nothing the user has is overwritten, nothing hangs,
no advice to unpickle, tampered metadata refused. Each case: one line on stderr, no
traceback, exit 1 (the dae command in this process, as in test_cli.py).
"""
import json
import os
import signal
import stat
import zipfile

import numpy as np
import pytest

from dae import cli, io
from dae.dA import dA
from test_cli import _main  # the dae command in this process


def _one_line(capsys, *argv):
    """The single error line of a refused command."""
    status, out, err = _main(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def model(tmp_path):
    """A tiny 16-8 dA's model file."""
    path = tmp_path / "m.npz"
    io.save(dA(numpy_rng=np.random.RandomState(0), n_visible=16, n_hidden=8), path)
    return path


def _fifo(path):
    os.mkfifo(path)
    return path


# 1 ------------------------------------------------------------------------------------
def test_1_out_never_destroys_what_is_there(tmp_path, model, capsys):
    before = model.read_bytes()
    assert "is the file being read" in _one_line(capsys, "filters", model, "--out", model)
    (tmp_path / "link.npz").symlink_to(model)
    assert "is the file being read (" in _one_line(capsys, "filters", model, "--out",
                                                   tmp_path / "link.npz")
    assert model.read_bytes() == before
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # private, never /dev
    assert "is a character device, not a regular file" in _one_line(
        capsys, "filters", model, "--out", device)
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert "is a FIFO" in _one_line(capsys, "filters", model, "--out", _fifo(tmp_path / "p.png"))
    (tmp_path / "dir.png").mkdir()
    assert "is a folder" in _one_line(capsys, "filters", model, "--out", tmp_path / "dir.png")
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((5, 16), np.float32))
    assert "is the file being read" in _one_line(capsys, "reconstruct", model, "--data", data,
                                                 "--out", data, "--mode", "py")
    # a symlink to a regular file: the target is written, the link stays
    (tmp_path / "old.png").write_bytes(b"old")
    (tmp_path / "pic.png").symlink_to(tmp_path / "old.png")
    status, _, err = _main(capsys, "filters", model, "--out", tmp_path / "pic.png")
    assert status == 0, err
    assert (tmp_path / "pic.png").is_symlink()
    assert (tmp_path / "old.png").read_bytes()[:4] == b"\x89PNG"
    # dae mnist-pkl's output follows the same rule
    (tmp_path / "pkl").mkdir()
    _fifo(tmp_path / "pkl" / "mnist.pkl.gz")
    assert "is a FIFO" in _one_line(capsys, "mnist-pkl", tmp_path / "pkl")
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["filters"].format_help()
    assert "is replaced" in " ".join(help_text.split())



@pytest.mark.parametrize("name", ["metrics.jsonl", "checkpoint.npz", "dA_corruption_0.npz",
                                  "learning_curve.png"])
def test_1_a_link_in_the_output_folder_to_the_run_s_own_data_is_refused_before_training(
        tmp_path, capsys, name):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((40, 16)).astype(np.float32))
    before = data.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(data)
    flags = ["train", "dA", "--data", data, "--n-hidden", "4", "--epochs", "1", "--corruption", "0",
             "--output-dir", out, "--quiet", "--mode", "py"]
    line = _one_line(capsys, *flags)
    assert f"{name} is {data}, which this run reads" in line and "remove that link" in line
    assert data.read_bytes() == before and not (out / "metrics.jsonl").is_file() or name == "metrics.jsonl"
    (out / name).unlink()  # without the link it runs; a link made during the run is refused at its write
    status, _, err = _main(capsys, *flags)
    assert status == 0, err
    (out / "learning_curve.png").unlink()
    (out / "learning_curve.png").symlink_to(data)
    from dae import utils

    with utils.reading(data):
        with pytest.raises(utils.PathError, match="which this run reads"):
            utils.save_png(np.zeros((2, 2), np.uint8), out / "learning_curve.png")
    utils.save_png(np.zeros((2, 2), np.uint8), out / "learning_curve.png")  # outside a run: written through
    assert data.read_bytes() != before


def test_1_a_run_whose_output_folder_is_inside_its_data_folder_still_resumes(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "x.npy", np.random.default_rng(0).random((40, 16)).astype(np.float32))
    flags = ["train", "dA", "--data", folder / "x.npy", "--n-hidden", "4", "--corruption", "0",
             "--output-dir", folder / "run", "--quiet", "--mode", "py"]
    assert _main(capsys, *flags, "--epochs", "1")[0] == 0
    from dae import utils

    with utils.reading(folder, besides=folder / "run"):  # the data folder, less the run's own files
        assert utils.reads_in(folder / "run") is None
    status, _, err = _main(capsys, *flags, "--epochs", "2", "--resume")
    assert status == 0, err

# 3 ------------------------------------------------------------------------------------
def test_3_a_fifo_is_refused_before_it_is_opened(tmp_path, model, capsys):
    signal.alarm(60)  # a regression would hang on the FIFO's open: fail instead
    fifo = _fifo(tmp_path / "f.npz")
    for argv in (["info", fifo], ["eval", fifo], ["filters", fifo, "--out", tmp_path / "o.png"],
                 ["eval", model, "--data", fifo, "--mode", "py"]):
        assert "f.npz is a FIFO (named pipe), not" in _one_line(capsys, *argv)
    assert not (tmp_path / "o.png").exists()
    signal.alarm(0)


class _Hung(Exception):
    pass


def _raise_hung(signum, frame):
    raise _Hung("still blocked after 30 s: the FIFO was opened")


def test_3_the_loaders_refuse_a_fifo_when_called_from_python(tmp_path):
    """The check is where the file is opened, not only in the CLI: library callers get it."""
    from dae import customdata

    fifo = _fifo(tmp_path / "f.npz")
    previous = signal.signal(signal.SIGALRM, _raise_hung)  # a regression fails, never hangs
    signal.alarm(30)
    try:
        for load in (customdata.load_images, customdata.dataset, customdata.three_sets,
                     customdata.eval_set):
            with pytest.raises(customdata.DataError, match="f.npz is a FIFO .named pipe., not an "
                               ".npy/.npz array of images or a folder of PNGs"):
                load(fifo)
        for load in (io.read, io.load):
            with pytest.raises(io.ModelFileError, match="f.npz is a FIFO"):
                load(fifo)
        with pytest.raises(customdata.DataError, match="none.npy: no such file or folder; --data"):
            customdata.load_images(tmp_path / "none.npy")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# 6 ------------------------------------------------------------------------------------
def test_6_damaged_files_never_suggest_unpickling(tmp_path, model, capsys):
    (tmp_path / "cut.npz").write_bytes(model.read_bytes()[:100])
    (tmp_path / "png.npz").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    (tmp_path / "zero.npz").write_bytes(bytes(1000))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name, said in [("cut.npz", "damaged"), ("png.npz", "not a zip archive: a PNG image"),
                       ("zero.npz", "not a zip archive: all zero bytes"),
                       ("objects.npy", "pickled Python objects, which dae never loads")]:
        line = _one_line(capsys, "info", tmp_path / name)
        assert said in line and "allow_pickle" not in line and "unsafe" not in line, line


def test_6_data_that_is_not_numbers_never_suggests_unpickling_on_any_data_path(
        tmp_path, model, capsys):
    """Object arrays, a pickle, a PNG or zeros named .npy/.npz, a truncated array: on every
    path --data takes, one line saying what the file is not and what to do."""
    import pickle

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=np.array([[1, "a"]], dtype=object))
    np.savez(tmp_path / "labels.npz", x=np.zeros((5, 16), np.uint8),
             y=np.array([1, "a", None, 2, 3], dtype=object))
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps(np.zeros(16)))
    (tmp_path / "png.npz").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    (tmp_path / "zero.npy").write_bytes(bytes(1000))
    np.save(tmp_path / "whole.npy", np.zeros((5, 16), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:100])
    cases = {"objects.npy": "objects.npy holds Python objects (dtype object), not numbers",
             "objects.npz": "objects.npz: array x holds Python objects",
             "labels.npz": "labels.npz: array y holds Python objects",
             "pickle.npy": "pickle.npy is not an .npy or .npz array (a Python pickle)",
             "png.npz": "png.npz is not an .npy or .npz array (a PNG image)",
             "zero.npy": "zero.npy is not an .npy or .npz array (all zero bytes at its start)",
             "cut.npy": "cut.npy: cannot read it (ValueError: EOF: reading array header"}
    commands = [["train", "dA", "--output-dir", tmp_path / "o"], ["train", "SdA", "--output-dir",
                tmp_path / "o"], ["train", "vae", "--output-dir", tmp_path / "o"],
                ["eval", model], ["reconstruct", model, "--out", tmp_path / "r.png"]]
    for name, said in cases.items():
        for command in commands:
            line = _one_line(capsys, *command, "--data", tmp_path / name)
            assert said in line, (command, line)
            assert "pickle=" not in line and "unsafe" not in line and "trust" not in line, line
            assert "never unpickles" in line or "np.save" in line, line


def test_6_eval_scores_the_test_set_its_training_held_out(tmp_path, capsys):
    """A model trained on --data FILE and scored on FILE is scored on the run's test set (the
    line says so), not on the examples it learned from; --whole-file scores them all; a
    model trained on all of a file, or on another one, is scored on the whole file, saying so."""
    from dae.customdata import SPLIT, load_images, split

    rng = np.random.default_rng(0)
    data = tmp_path / "xy.npz"
    np.savez(data, x=(rng.random((200, 8, 8)) * 255).astype(np.uint8), y=rng.integers(0, 3, 200))
    out = tmp_path / "sda"
    status, _, err = _main(capsys, "train", "SdA", "--data", data, "--hidden-layers", 4,
                           "--corruption-levels", 0.1, "--pretraining-epochs", 1,
                           "--training-epochs", 1, "--mode", "py", "--quiet", "--output-dir", out)
    assert status == 0, err
    W, b, V, c = io.read(out / "best_model.npz").params[:4]

    def wrong(images):  # the SdA's prediction, computed here (eq. 5 of dae.layers)
        predicted = np.argmax(1 / (1 + np.exp(-(images.x @ W + b))) @ V + c, axis=1)
        return int(np.sum(predicted != images.y))
    test = split(load_images(data), SPLIT)[2]
    status, text, _ = _main(capsys, "eval", out / "best_model.npz", "--data", data, "--mode", "py")
    assert status == 0 and len(test) == 20
    assert f"({wrong(test)} of 20 examples of {data} (test split) misclassified); scored the " \
           "test set dae train SdA held out (--split 0.8 0.1 0.1: 20 of 200 examples; " \
           "--whole-file scores them all)" in text, text
    status, text, _ = _main(capsys, "eval", out / "best_model.npz", "--data", data, "--mode", "py",
                            "--whole-file")
    assert status == 0 and f"({wrong(load_images(data))} of 200 examples of {data} misclassified)" \
        "; scored the whole file (--whole-file), the 160 training and 20 validation" in text, text
    copy = tmp_path / "copy.npz"
    copy.write_bytes(data.read_bytes())
    status, text, _ = _main(capsys, "eval", out / "best_model.npz", "--data", copy, "--mode", "py")
    assert status == 0 and "of 200 examples" in text and \
        f"scored the whole file (the model was trained on {data.resolve()}, not on this file)" in text

    x = tmp_path / "x.npy"
    np.save(x, rng.random((200, 8, 8)).astype(np.float32))
    status, _, err = _main(capsys, "train", "dA", "--data", x, "--n-hidden", 4, "--epochs", 1,
                           "--corruption", 0.3, "--mode", "py", "--quiet", "--output-dir", tmp_path / "da")
    assert status == 0, err
    status, text, _ = _main(capsys, "eval", tmp_path / "da" / "dA_corruption_30.npz", "--data", x,
                            "--mode", "py")
    W, b, b_prime = io.read(tmp_path / "da" / "dA_corruption_30.npz").params
    rows = load_images(x).x.astype(np.float64)
    a = 1 / (1 + np.exp(-(rows @ W + b))) @ W.T + b_prime
    cost = np.mean(np.sum(np.logaddexp(0, a) - rows * a, axis=1))
    assert status == 0 and f"{cost:.4f} per example (clean input, mean over 200 examples of {x}); " \
        "scored the whole file, which the model trained on (dae train dA trains on all of " \
        "--data: no test set held out)" in text, text
    status, text, _ = _main(capsys, "eval", _bare_dA(tmp_path), "--data", x, "--mode", "py")
    assert status == 0 and "scored the whole file (its model file records no training data)" in text
    assert "pass --data, or drop --whole-file" in _one_line(capsys, "eval", _bare_dA(tmp_path),
                                                            "--whole-file")


def _bare_dA(tmp_path):
    """A 64-4 dA saved outside dae train: no record of its data."""
    return io.save(dA(numpy_rng=np.random.RandomState(0), n_visible=64, n_hidden=4),
                   tmp_path / "bare.npz")


# 7 ------------------------------------------------------------------------------------
def test_7_dae_theano_says_a_folder_is_a_folder(tmp_path, capsys):
    line = _one_line(capsys, "theano", tmp_path)
    assert f"{tmp_path} is a folder, not a Theano script" in line


# 4 ------------------------------------------------------------------------------------
def _rewrite(model, path, meta=None, extra=()):
    """``model`` copied to ``path`` with its meta replaced (bytes) and extra entries."""
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "meta.npy" and meta is not None:
                data = _npy(meta)
            dst.writestr(item.filename, data)
        for name, data in extra:
            dst.writestr(name, data)
    return path


def _npy(raw):
    import io as _io
    buffer = _io.BytesIO()
    np.save(buffer, np.frombuffer(raw, dtype=np.uint8))
    return buffer.getvalue()


def test_4_tampered_metadata_is_refused_at_load(tmp_path, model, capsys):
    meta = io.read(model).meta
    deep = b'{"format": "dae-model", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "nested too deeply" in _one_line(capsys, "info", _rewrite(model, tmp_path / "d.npz", deep))
    for name, info, field in [
            ("shape", {"image_shape": "ab"}, "info.image_shape"),
            ("epochs", {"training": {"experiment": "dA", "stage": "s", "epochs": "ab"}},
             "info.training.epochs"),
            ("stage", {"training": {"experiment": "dA", "epochs": 1}}, "info.training.stage"),
            ("history", {"training": {"experiment": "dA", "stage": "s", "epochs": 1,
                                      "history": [1]}}, "info.training.history")]:
        raw = json.dumps({**meta, "info": info}).encode()
        for command in (["info"], ["filters"]):
            argv = [*command, _rewrite(model, tmp_path / f"{name}.npz", raw)]
            if command == ["filters"]:
                argv += ["--out", tmp_path / "f.png"]
            line = _one_line(capsys, *argv)
            assert f"{name}.npz: metadata field {field}" in line, line
    twice = _rewrite(model, tmp_path / "twice.npz", extra=[("meta.npy", _npy(b"{}"))])
    assert "appear more than once" in _one_line(capsys, "info", twice)


# 5 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("errno_, why", [(28, "No space left on device"), (13, "Permission denied")])
def test_5_a_full_disk_or_a_folder_made_unwritable_mid_run_names_the_file_and_resumes(
        tmp_path, capsys, monkeypatch, errno_, why):
    """The third write of the run (epoch 1's checkpoint) fails: one line naming the file, the
    last checkpoint intact, the resume command; resuming then ends as an uninterrupted run."""
    import tempfile

    from dae import utils

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((30, 16)).astype("float32"))
    flags = ["train", "dA", "--data", data, "--n-hidden", "4", "--epochs", "3", "--corruption", "0.3",
             "--mode", "py", "--quiet"]
    assert _main(capsys, *flags, "--output-dir", tmp_path / "whole")[0] == 0
    real, calls = tempfile.mkstemp, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno_, why)
        return real(*args, **kwargs)
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        m.setattr(utils.tempfile, "mkstemp", failing)
        line = _one_line(capsys, *flags, "--output-dir", out)
    assert line.startswith(f"dae: error: could not write {out / 'checkpoint.npz'}: {why}"), line
    assert f"The last checkpoint, {out / 'checkpoint.npz'}, is intact" in line
    assert line.endswith(f"resume with: dae train dA --output-dir {out} --resume")
    assert io.read(out / "checkpoint.npz").info["training"]["epochs"] == 1
    assert not list(out.glob(".*.tmp"))  # no partial file left
    assert _main(capsys, "train", "dA", "--output-dir", out, "--resume")[0] == 0
    for a, b in zip(io.read(tmp_path / "whole" / "dA_corruption_30.npz").params,
                    io.read(out / "dA_corruption_30.npz").params):
        np.testing.assert_array_equal(a, b)
