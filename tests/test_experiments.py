"""Every experiment runs through one session: the SdA and the VAE interrupted and
resumed end bit-identical to uninterrupted runs, write dae model files, and
refuse what would lose or mix work (a locked or read-only folder, other data).

Runs are tiny: random 784-pixel "digits" (a few dozen), hidden layers of a few
units, the Python compile mode.
"""
import json
import os
import signal

import numpy as np
import pytensor
import pytest

from dae import cli, folder as folder_module, io, session as session_module
from dae.cli import script_main

FAST = ["--mode", "py", "--quiet"]
SDA = ["--hidden-layers", "6", "5", "--corruption-levels", "0.1", "0.2", "--pretraining-epochs", "2",
       "--training-epochs", "3", "--patience-factor", "50", "--batch-size", "10", *FAST]
VAE = ["--hidden", "12", "--latent", "2", "--epochs", "3", "--k", "7", "--batch-size", "10", *FAST]


def _splits(seed=0, n=(40, 20, 20)):
    rng = np.random.default_rng(seed)
    return [(rng.random((m, 784), dtype=np.float32), rng.integers(0, 10, m).astype(np.int64)) for m in n]


@pytest.fixture
def tiny_mnist(monkeypatch):
    splits = _splits()
    monkeypatch.setattr("dae.data.load_mnist", lambda *args, **kwargs: splits)
    return splits


class CtrlC:
    """Press Ctrl-C (raise SIGINT) during the ``at``-th training step of the process."""

    def __init__(self, monkeypatch, at):
        self.calls, self.at = 0, at
        real = session_module.train.fit

        def fit(step, *args, **kwargs):
            def pressing(i):
                self.calls += 1
                if self.calls == self.at:
                    signal.raise_signal(signal.SIGINT)
                return step(i)
            return real(pressing, *args, **kwargs)
        monkeypatch.setattr(session_module.train, "fit", fit)


def _train(capsys, model, out, *flags):
    status = cli.main(["train", model, "--output-dir", str(out), *flags])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _records(out):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def _same_params(a, b):
    for x, y in zip(io.read(a).params, io.read(b).params):
        np.testing.assert_array_equal(x, y)


def test_sda_interrupted_in_pretraining_and_fine_tuning_resumes_exactly(tiny_mnist, tmp_path,
                                                                         capsys, monkeypatch):
    assert _train(capsys, "SdA", tmp_path / "whole", *SDA)[0] == 0
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        CtrlC(m, at=4 + 2)  # pretraining layer 0, epoch 1, step 2 of 4
        status, _, err = _train(capsys, "SdA", out, *SDA)
    assert status == 130
    assert "interrupted in pretrain_0, epoch 1, step 2 of 4" in err and "--resume" in err
    assert io.read(out / "checkpoint.npz").info["training"]["position"] == 2
    with monkeypatch.context() as m:
        # the 2 steps left of pretrain_0's epoch 1 (the 2 before are replayed, not run),
        # pretrain_1, finetune epoch 0, then 2 steps
        CtrlC(m, at=2 + 2 * 4 + 4 + 2)
        status, _, err = _train(capsys, "SdA", out, "--resume")
    assert status == 130 and "interrupted in finetune, epoch 1, step 2 of 4" in err
    assert io.read(out / "best_model.npz").info["training"]["best"]["epoch"] == 0  # the best so far
    status, stdout, _ = _train(capsys, "SdA", out, "--resume")
    assert status == 0, stdout
    _same_params(tmp_path / "whole" / "best_model.npz", out / "best_model.npz")
    assert _records(tmp_path / "whole") == _records(out)
    stages = [r["stage"] for r in _records(out)]
    assert stages == ["pretrain_0"] * 2 + ["pretrain_1"] * 2 + ["finetune"] * 3
    model = io.load(out / "best_model.npz")
    assert type(model).__name__ == "SdA" and model.hidden_layers_sizes == [6, 5]
    status, info, _ = _main(capsys, "info", out / "best_model.npz")
    assert status == 0 and "SdA model" in info and "3 epochs of finetune" in info
    assert "best epoch by validation: epoch" in info


def test_vae_interrupted_in_training_and_in_the_nll_resumes_exactly(tiny_mnist, tmp_path, capsys,
                                                                    monkeypatch):
    assert _train(capsys, "vae", tmp_path / "whole", *VAE)[0] == 0
    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        CtrlC(m, at=4 + 3)
        status, _, err = _train(capsys, "vae", out, *VAE)
    assert status == 130 and "interrupted in vae, epoch 1, step 3 of 4" in err

    from dae.evaluate import Evaluator
    real = Evaluator.iwae

    def pressed_in_the_nll(self, x, k=1000, progress=None):
        def batches(starts):
            signal.raise_signal(signal.SIGINT)
            return progress(starts)
        return real(self, x, k, progress=batches)
    with monkeypatch.context() as m:
        m.setattr(Evaluator, "iwae", pressed_in_the_nll)
        status, _, err = _train(capsys, "vae", out, "--resume")
    assert status == 130 and "interrupted in evaluate" in err
    assert (out / "vae.npz").exists() and not (out / "results.json").exists()
    status, stdout, _ = _train(capsys, "vae", out, "--resume")
    assert status == 0, stdout
    _same_params(tmp_path / "whole" / "vae.npz", out / "vae.npz")
    assert _records(tmp_path / "whole") == _records(out)
    whole, cut = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", out))
    assert (whole["test_elbo"], whole["test_nll"]) == (cut["test_elbo"], cut["test_nll"])
    checkpoint = io.read(out / "checkpoint.npz")
    assert [n for n, _ in checkpoint.state][:2] == ["t", "m"]  # Adam's state is checkpointed
    status, text, _ = _main(capsys, "eval", out / "vae.npz", "--samples", "3")
    assert status == 0 and text.startswith("ELBO ") and "k=3" in text
    status, text, _ = _main(capsys, "info", out / "vae.npz")
    assert status == 0 and "VAE model" in text and "3 epochs of vae" in text


def _main(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_second_run_on_a_busy_folder_is_refused_and_a_dead_lock_taken_over(tiny_mnist, tmp_path,
                                                                             capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".dae-lock").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename,
                                               "started": 0, "command": "dae train vae"}))
    status, _, err = _train(capsys, "vae", out, *VAE)
    assert status == 1 and "in use by another run (process" in err and "dae train vae" in err
    assert not (out / "checkpoint.npz").exists()
    (out / ".dae-lock").write_text(json.dumps({"pid": 2**22 + 7, "host": os.uname().nodename,
                                               "started": 0, "command": "x"}))
    (out / ".vae.npz.abc.tmp").write_bytes(b"half a file")
    status, stdout, _ = _train(capsys, "vae", out, *VAE)
    assert status == 0 and "took over the lock" in stdout and "removed 1 temporary file" in stdout
    assert not (out / ".dae-lock").exists() and not (out / ".vae.npz.abc.tmp").exists()


def test_a_read_only_output_folder_is_refused_before_training(tiny_mnist, tmp_path, capsys,
                                                            monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root writes anyway: fail the first write as a read-only folder would
        def refuse(source, target, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(target))
        monkeypatch.setattr(folder_module.os, "link", refuse)
    compiled = []
    monkeypatch.setattr("dae.SdA.SdA.pretraining_functions", lambda *a, **k: compiled.append(1))
    try:
        status, stdout, err = _train(capsys, "SdA", out, *SDA)
    finally:
        out.chmod(0o700)
    assert status == 1 and f"cannot write into {out}: permission denied" in err
    assert stdout == "" and not compiled


def test_an_output_path_that_is_a_file_is_refused(tiny_mnist, tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    status, stdout, err = _train(capsys, "vae", tmp_path / "file", *VAE)
    assert status == 1 and "is a file, not a folder" in err and stdout == ""
    assert (tmp_path / "file").read_text() == "mine"


def test_resuming_on_other_data_is_refused(tiny_mnist, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        CtrlC(m, at=3)
        assert _train(capsys, "vae", out, *VAE)[0] == 130
    other = _splits(seed=1)
    monkeypatch.setattr("dae.data.load_mnist", lambda *args, **kwargs: other)
    status, _, err = _train(capsys, "vae", out, "--resume")
    assert status == 1 and "trained on other data" in err


def test_a_diverging_stage_keeps_the_last_good_model_and_checkpoint(tiny_mnist, tmp_path, capsys,
                                                                    monkeypatch):
    out = tmp_path / "run"
    flags = ["--hidden-layers", "6", "--corruption-levels", "0.1", "--pretraining-epochs", "1",
             "--training-epochs", "4", "--patience-factor", "50", "--batch-size", "10", *FAST]
    real = session_module.train.fit

    def fit(step, n_steps, n_epochs, *args, **kwargs):
        if n_epochs != 4:  # pretraining
            return real(step, n_steps, n_epochs, *args, **kwargs)
        calls = []

        def growing(i):  # fine-tuning's cost 100 times what it was from epoch 2 on
            calls.append(i)
            value = np.asarray(step(i))
            return value * 100 if len(calls) > 2 * n_steps else value
        return real(growing, n_steps, n_epochs, *args, **kwargs)
    good = {}
    real_save = io.save

    def save(model, path, **kwargs):
        result = real_save(model, path, **kwargs)
        if path.name == "best_model.npz":
            good["params"] = [p.copy() for p in io.read(path).params]
        return result
    monkeypatch.setattr(session_module.train, "fit", fit)
    monkeypatch.setattr(io, "save", save)
    status, _, err = _train(capsys, "SdA", out, *flags)
    assert status == 1
    assert "over 10 times its first epoch's" in err and "epoch 2 of finetune" in err
    assert "--finetune-lr 0.01" in err and "--resume" in err
    training = io.read(out / "checkpoint.npz").info["training"]
    assert (training["stage"], training["epochs"]) == ("finetune", 2)
    for saved, kept in zip(io.read(out / "best_model.npz").params, good["params"]):
        np.testing.assert_array_equal(saved, kept)


def test_run_and_resume_flags_of_every_experiment(capsys):
    """--resume is a flag of every experiment, and bad flags give one line."""
    for name in cli.EXPERIMENTS:
        parser = cli.build_parser()
        args = parser.parse_args(["train", name, "--resume"])
        assert args.resume


def test_an_experiment_leaves_pytensors_default_mode_alone(tiny_mnist, tmp_path, capsys):
    """Experiments take the mode as an argument: --mode py compiles in Python mode without
    making it the default of every later pytensor.function."""
    before = pytensor.config.mode
    assert _train(capsys, "vae", tmp_path, "--epochs", "1", *VAE[2:4], "--k", "2", "--batch-size",
                  "10", *FAST)[0] == 0
    assert pytensor.config.mode is before


# -- the SdA experiment on MNIST ------------------------------------------------------------------
def test_sda_experiment_runs_end_to_end_on_a_small_slice(mnist, tmp_path, capsys, monkeypatch):
    from dae import data

    monkeypatch.setattr(data, "load_mnist", lambda where: mnist)
    status = script_main("SdA", ["--hidden-layers", "20", "10", "--corruption-levels", "0.1", "0.2",
                                 "--pretraining-epochs", "1", "--training-epochs", "2",
                                 "--batch-size", "50", "--output-dir", str(tmp_path),
                                 "--mode", "py", "--max-examples", "100", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "pretrain_1 epoch   0  cost " in out
    assert "finetune epoch   1  cost " in out and "valid_error" in out and "test_error" in out
    assert "pretraining took" in out and "fine-tuning took" in out
    assert [line for line in out.splitlines() if line.startswith("best validation ")]
    model = io.load(tmp_path / "best_model.npz")  # a dae model file: dae eval / info open it
    assert model.params[0].get_value().shape == (784, 20) and model.params[4].get_value().shape == (10, 10)
    assert (tmp_path / "filters_layer0.png").stat().st_size > 0


def test_sda_script_reports_mismatched_flags_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["scripts/train_SdA.py"])
    status = script_main("SdA", ["--hidden-layers", "10", "10", "--corruption-levels", "0.1",
                                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.strip() == ("train_SdA.py: error: --corruption-levels has 1 values for 2 "
                           "--hidden-layers; give one per layer")
    assert not (tmp_path / "out").exists()


def test_sda_without_pretraining_fine_tunes_from_the_initial_weights(tiny_mnist, tmp_path, capsys):
    flags = [*SDA]
    flags[flags.index("--pretraining-epochs") + 1] = "0"
    status, out, _ = _train(capsys, "SdA", tmp_path, *flags)
    assert status == 0 and not [line for line in out.splitlines() if line.startswith("pretrain")]
    assert {r["stage"] for r in _records(tmp_path)} == {"finetune"}


def test_da_corruption_type_reaches_the_model(tiny_mnist, tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((30, 4, 4)).astype(np.float32))
    status, _, _ = _train(capsys, "dA", tmp_path / "run", "--data", str(data), "--n-hidden", "3",
                          "--epochs", "1", "--corruption", "0.2", "--corruption-type", "gaussian",
                          *FAST)
    assert status == 0
    assert io.load(tmp_path / "run" / "dA_corruption_20.npz").corruption == "gaussian"
