"""Own data for the SdA and the VAE (``--data``): labelled .npz files and folders of class
subfolders split into training, validation and test sets by one stated rule; bad inputs
refused in one line; the VAE's Bernoulli and Gaussian likelihoods; a --data run resumed.

Runs are tiny: 8x8 random images, a few units, the Python compile mode.
"""
import json

import numpy as np
import pytest
from PIL import Image

from dae import cli, io

from test_experiments import FAST, CtrlC, _records, _same_params

SDA = ["--hidden-layers", "6", "5", "--corruption-levels", "0.1", "0.2", "--pretraining-epochs", "2",
       "--training-epochs", "3", "--patience-factor", "50", "--batch-size", "8", *FAST]
VAE = ["--hidden", "12", "--latent", "2", "--epochs", "2", "--k", "5", "--batch-size", "8", *FAST]


def _npz(path, n=40, k=3, seed=0, **arrays):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 8, 8)) * 255).astype(np.uint8)
    np.savez(path, **{"x": x, "y": np.arange(n) % k, **arrays})
    return path


def _tree(folder, classes=("cat", "dog"), per_class=(6, 9), shape=(6, 5)):
    rng = np.random.default_rng(1)
    for name, count in zip(classes, per_class):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / name / f"{i}.png")
    return folder


def _main(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _train(capsys, model, out, *flags):
    return _main(capsys, "train", model, "--output-dir", out, *flags)


def test_sda_on_an_npz_splits_it_stratified_and_saves_a_model_dae_eval_reads(tmp_path, capsys):
    data, out = _npz(tmp_path / "digits.npz"), tmp_path / "run"
    status, stdout, err = _train(capsys, "SdA", out, "--data", data, *SDA)
    assert status == 0, err
    assert (f"split {data} (40 examples, 3 classes) into 32 training, 4 validation, 4 test "
            "examples: fractions 0.8/0.1/0.1, stratified by class, shuffled with the fixed seed 0 "
            "(not --seed)") in stdout.splitlines()
    assert "best validation" in stdout and (out / "filters_layer0.png").exists()
    record = io.read(out / "best_model.npz")
    assert record.hyperparameters["n_outs"] == 3 and record.hyperparameters["n_ins"] == 64
    assert record.info["image_shape"] == [8, 8] and record.info["classes"] == ["0", "1", "2"]
    assert record.info["training"]["config"]["data"] == str(data.resolve())
    status, text, _ = _main(capsys, "eval", out / "best_model.npz", "--data", data, "--mode", "py")
    assert status == 0 and text.startswith("test error: ") and f"of 4 examples of {data} (test split)" in text


def test_sda_on_a_png_class_tree_takes_the_sorted_subfolders_as_classes(tmp_path, capsys):
    data, out = _tree(tmp_path / "pets"), tmp_path / "run"
    status, stdout, err = _train(capsys, "SdA", out, "--data", data, *SDA, "--split", "0.6", "0.2",
                                 "0.2")
    assert status == 0, err
    assert (f"split {data} (15 examples, 2 classes) into 9 training, 3 validation, 3 test examples: "
            "fractions 0.6/0.2/0.2, stratified by class") in stdout
    record = io.read(out / "best_model.npz")
    assert record.hyperparameters["n_outs"] == 2 and record.hyperparameters["n_ins"] == 30
    assert record.info["classes"] == ["cat", "dog"] and record.info["image_shape"] == [6, 5]
    status, text, _ = _main(capsys, "info", out / "best_model.npz")
    assert status == 0 and "image shape: 6x5" in text


def _bad(tmp_path):
    """name -> (what to pass as --data, the message after 'dae: error: ')."""
    cases = {}

    def npz(name, **arrays):
        path = _npz(tmp_path / f"{name}.npz", n=10, k=2, **arrays)
        return path
    x = np.zeros((10, 4, 4), np.uint8)
    path = tmp_path / "no_y.npz"
    np.savez(path, x=x)
    cases["no y"] = (path, f"{path} has no labels y; the SdA learns to classify: pass an .npz with "
                           "arrays x (images) and y (integer labels 0..K-1), or a folder with one "
                           "subfolder of PNGs per class")
    path = npz("float_y", y=np.arange(10) % 2 * 1.0)
    cases["y not integers"] = (path, f"{path}: labels y of dtype float64; expected integer class "
                                     "indices 0..K-1: save them with y.astype(int)")
    path = npz("y_2d", y=(np.arange(10) % 2)[:, None])
    cases["y not a vector"] = (path, f"{path}: labels y of shape (10, 1); expected one integer label "
                                     "per image, shape (10,): flatten them with y.reshape(-1)")
    path = npz("negative_y", y=np.arange(10) % 2 - 1)
    cases["y out of range"] = (path, f"{path}: labels y include -1; expected class indices 0..K-1, "
                                     "none negative")
    path = npz("gap_y", y=np.arange(10) % 2 * 2)
    cases["a class with no examples"] = (
        path, f"{path}: labels y run 0..2 but class 1 has no examples; number the classes 0..K-1 "
              "with no gaps (np.unique(y, return_inverse=True)[1] does)")
    path = npz("one_class", y=np.zeros(10, np.int64))
    cases["one class"] = (path, f"{path}: every label is 0, one class; a classifier needs at least two")
    path = npz("lengths", y=np.arange(9) % 2)
    cases["x and y lengths differ"] = (path, f"{path}: x holds 10 images but y 9 labels; expected one "
                                             "label per image, in the same order")
    path = _npz(tmp_path / "two.npz", n=2, k=2)
    cases["too few for three splits"] = (path, f"{path} holds 2 examples, too few for a training, a "
                                               "validation and a test set; pass at least 3")
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(4):
        Image.fromarray(x[i]).save(flat / f"{i}.png")
    cases["a folder without class subfolders"] = (
        flat, f"{flat}: PNGs with no class subfolders, so no labels; the SdA learns to classify: put "
              "each class's PNGs in a subfolder of its own (the sorted subfolder names are the "
              "classes), or pass an .npz with arrays x (images) and y (labels)")
    tree = _tree(tmp_path / "tree", per_class=(2, 2))
    (tree / "empty").mkdir()
    cases["an empty class folder"] = (
        tree, f"{tree / 'empty'}: a class folder with no .png files; every subfolder of {tree} is a "
              "class and needs at least one PNG: add images or remove the folder")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    cases["an empty folder"] = (
        nothing, f"{nothing}: no .png files and no class subfolders in this folder; --data takes a "
                 "folder of PNG images, one of class subfolders of PNGs, or an .npy / .npz array")
    return cases


BAD = ["no y", "y not integers", "y not a vector", "y out of range", "a class with no examples",
       "one class", "x and y lengths differ", "too few for three splits",
       "a folder without class subfolders", "an empty class folder", "an empty folder"]


@pytest.mark.parametrize("case", BAD)
def test_bad_labelled_data_is_one_line_and_status_1(case, tmp_path, capsys):
    data, message = _bad(tmp_path)[case]
    status, stdout, err = _train(capsys, "SdA", tmp_path / "run", "--data", data, *FAST)
    assert (status, err) == (1, f"dae: error: {message}\n"), err
    assert "Traceback" not in stdout + err


@pytest.mark.parametrize("flags, message", [
    (["--split", "0.5", "0.5", "0.1"], "--split 0.5 0.5 0.1: expected three fractions (training, "
                                       "validation, test) summing to 1, e.g. --split 0.8 0.1 0.1"),
    (["--split", "0.5", "0.5"], "--split 0.5 0.5: expected three fractions"),
    (["--split", "0.5", "0.3", "0.2", "--data-dir", "."], "--split 0.5 0.3 0.2 cuts --data; MNIST "
                                                          "comes split"),
])
@pytest.mark.parametrize("model", ["SdA", "vae"])
def test_bad_split_is_one_line(model, flags, message, tmp_path, capsys):
    status, _, err = _train(capsys, model, tmp_path / "run", *flags, *FAST)
    assert status == 1 and err.startswith(f"dae: error: {message}") and err.count("\n") == 1, err


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_on_own_data_with_either_likelihood(likelihood, tmp_path, capsys):
    data, out = _tree(tmp_path / "pets"), tmp_path / "run"
    status, stdout, err = _train(capsys, "vae", out, "--data", data, "--likelihood", likelihood, *VAE)
    assert status == 0, err
    assert f"split {data} (15 examples, 2 classes) into 11 training, 2 validation, 2 test" in stdout
    results = json.loads((out / "results.json").read_text())
    model = io.load(out / "vae.npz")
    assert results["likelihood"] == likelihood == model.output and model.n_visible == 30
    assert np.isfinite(results["test_elbo"]) and np.isfinite(results["test_nll"])
    if likelihood == "bernoulli":
        assert "binarized once, seed 0" in stdout and "Bernoulli p(x|z)" in stdout
        assert results["protocol"].startswith("Bernoulli p(x|z); dynamic binarization in training")
    else:
        assert "binariz" not in results["protocol"].replace("no binarization", "")
        assert "Gaussian p(x|z) = N(f(z), diag sigma^2)" in stdout and "not binarized" in stdout
    assert (out / "samples.png").exists() and io.read(out / "vae.npz").info["image_shape"] == [6, 5]


def test_vae_bernoulli_refuses_pixels_outside_0_1_and_gaussian_takes_them(tmp_path, capsys):
    data = tmp_path / "wide.npy"
    np.save(data, np.linspace(-1, 2, 10 * 16, dtype=np.float32).reshape(10, 4, 4))
    status, _, err = _train(capsys, "vae", tmp_path / "b", "--data", data, *VAE)
    assert status == 1 and "pixel values in [-1, 2]; the cross-entropy loss needs them in [0, 1]" in err
    status, stdout, err = _train(capsys, "vae", tmp_path / "g", "--data", data, "--likelihood",
                                 "gaussian", *VAE)
    assert status == 0, err
    assert f"split {data} (10 examples) into 8 training, 1 validation, 1 test examples" in stdout


def test_sda_data_run_interrupted_resumes_exactly(tmp_path, capsys, monkeypatch):
    data = _npz(tmp_path / "digits.npz")
    assert _train(capsys, "SdA", tmp_path / "whole", "--data", data, *SDA)[0] == 0
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        CtrlC(m, at=2 * 2 * 4 + 4 + 2)  # 2 layers x 2 epochs x 4 steps, then fine-tuning epoch 1, step 2
        status, _, err = _train(capsys, "SdA", out, "--data", data, *SDA)
    assert status == 130 and "interrupted in finetune, epoch 1, step 2 of 4" in err, err
    original = data.read_bytes()
    _npz(data, seed=1)  # other images under the same name: refused, not mixed in
    status, _, err = _train(capsys, "SdA", out, "--resume")
    assert status == 1 and "was trained on other data" in err, err
    data.write_bytes(original)
    status, stdout, err = _train(capsys, "SdA", out, "--resume")  # --data comes from the run
    assert status == 0, err
    assert f"split {data} (40 examples, 3 classes) into 32 training" in stdout
    _same_params(tmp_path / "whole" / "best_model.npz", out / "best_model.npz")
    assert _records(tmp_path / "whole") == _records(out)


def test_vae_on_rows_that_are_not_images_trains_and_says_why_there_are_no_pictures(tmp_path, capsys):
    data, out = tmp_path / "rows.npy", tmp_path / "run"
    np.save(data, np.random.default_rng(0).random((20, 10), dtype=np.float32))
    status, stdout, err = _train(capsys, "vae", out, "--data", data, *VAE)
    assert status == 0, err
    assert (f"no pictures: {data} (training split) gives rows of 10 values, not images; pass "
            "(n, height, width) arrays to get them") in stdout
    assert not (out / "samples.png").exists() and (out / "results.json").exists()
