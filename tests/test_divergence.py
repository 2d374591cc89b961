"""Divergence is caught inside the first epoch too: a run that blows up exits 1 with one line
saying what diverged and to lower the learning rate, and never leaves a model (issue 21, item 2)."""
import numpy as np
import pytest

from dae import cli, io
from dae.train import Diverged, fit

FLAGS = ["--n-hidden", "4", "--epochs", "2", "--mode", "py", "--quiet"]


def _main(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.npy"
    np.save(path, np.random.default_rng(0).random((200, 16)).astype("float32"))
    return path


def test_a_huge_learning_rate_fails_in_the_first_epoch_and_saves_nothing(small, tmp_path, capsys):
    run = tmp_path / "run"
    with np.errstate(all="ignore"):
        status, _, err = _main(capsys, "train", "dA", "--data", small, *FLAGS,
                               "--learning-rate", "1e30", "--output-dir", run)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 1 and len(lines) == 1, err
    assert "in epoch 0 of" in err and "lower learning rate" in err and "--learning-rate 1e+29" in err
    assert not list(run.glob("*.npz"))


def test_a_normal_run_is_unchanged_and_a_diverging_resume_keeps_its_model(small, tmp_path, capsys):
    run = tmp_path / "run"
    status, _, _ = _main(capsys, "train", "dA", "--data", small, *FLAGS, "--output-dir", run)
    assert status == 0
    models = {p.name: [a.copy() for a in io.read(p).params] for p in run.glob("*.npz")}
    assert models and all(np.isfinite(a).all() for ps in models.values() for a in ps)
    with np.errstate(all="ignore"):
        status, _, err = _main(capsys, "train", "dA", "--output-dir", run, "--resume", "--epochs", 4,
                               "--learning-rate", "1e30", "--mode", "py", "--quiet")
    assert status == 1 and "diverged" in err and "lower learning rate" in err
    for name, params in models.items():
        for saved, kept in zip(io.read(run / name).params, params):
            np.testing.assert_array_equal(saved, kept)


def test_fit_stops_inside_the_epoch_at_a_cost_far_above_its_first_step():
    calls = []

    def step(i):
        calls.append(i)
        return 5.0 if len(calls) == 1 else 3e31
    with pytest.raises(Diverged, match=r"over 10 times its first epoch's first step's 5, in epoch 0"):
        fit(step, 1000, 2)
    assert len(calls) == 2  # stopped at the first check, not at the epoch's end


def test_a_finite_but_huge_cost_is_a_divergence_and_a_sane_one_is_not():
    with pytest.raises(Diverged, match="beyond 1e\\+15"):
        fit(lambda i: 1e20, 4, 1)
    history = fit(lambda i: [10.0 - i / 20, 0.1], 100, 2, names=("cost", "other"))
    assert [r["cost"] for r in history] == [np.mean(10.0 - np.arange(100) / 20)] * 2
