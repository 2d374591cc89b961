"""Typed experiment configs: one declaration gives the Python API, the flags and resume's merge."""
import argparse
import dataclasses
from pathlib import Path

import pytest

from dae import cli
from dae.experiments import SdA, cA, dA, sA, vae
from dae.experiments.configs import ConfigError, add_flags, command_line, from_flags, merge

EXPERIMENTS = {"dA": dA, "cA": cA, "sA": sA, "vae": vae, "SdA": SdA}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_defaults_are_the_flags_defaults(name):
    """A Config() and the flags given nothing are the same config: one declaration."""
    module = EXPERIMENTS[name]
    parsed = add_flags(argparse.ArgumentParser(), module.Config).parse_args([])
    assert from_flags(module.Config, parsed) == module.Config()
    fields = {f.name for f in dataclasses.fields(module.Config)}
    assert fields <= set(vars(parsed))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_field_has_a_flag_in_the_cli(name):
    parser = cli.build_parser()
    for f in dataclasses.fields(EXPERIMENTS[name].Config):
        args = parser.parse_args(["train", name])
        assert hasattr(args, f.name), f.name


def test_the_published_defaults():
    assert (dA.Config().epochs, dA.Config().learning_rate, dA.Config().corruption) == (15, 0.1, [0.0, 0.3])
    assert SdA.Config().hidden_layers == [1000, 1000, 1000] and SdA.Config().seed == 89677
    assert vae.Config().hidden == [512, 512] and vae.Config().latent == 50
    assert sA.Config().n_hidden == 196 and cA.Config().contraction == 0.1
    assert dA.Config().output_dir == Path("dA_plots")


BAD = {
    "range": (dA.Config, {"epochs": 0}, ["--epochs", "0"], "expected a value >= 1, got 0"),
    "fraction": (dA.Config, {"corruption": [0.3, 1.5]}, ["--corruption", "0.3", "1.5"],
                 "expected a value in [0, 1], got 1.5"),
    "choice": (dA.Config, {"corruption_type": "blur"}, ["--corruption-type", "blur"], "blur"),
    "open fraction": (sA.Config, {"sparsity_target": 0.0}, ["--sparsity-target", "0"],
                      "expected a value in (0, 1), got 0.0"),
    "patience": (SdA.Config, {"patience_factor": 1}, ["--patience-factor", "1"],
                 "expected a value >= 2, got 1"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_value_is_refused_the_same_from_python_and_from_flags(case, capsys):
    cls, values, flags, message = BAD[case]
    with pytest.raises(ConfigError, match=None) as refused:
        cls(**values)
    assert message in str(refused.value)
    parser = add_flags(cli.Parser(prog="x"), cls)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(flags)
    assert exited.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("values, message", [
    ({"epochs": "5"}, "expected an integer"),
    ({"epochs": 5.0}, "expected an integer"),
    ({"epochs": True}, "expected an integer"),
    ({"corruption": 0.3}, "expected a list"),
    ({"corruption": []}, "at least one value"),
    ({"corruption": [0.3, 0.3]}, "repeats a level"),
    ({"data": "a.npy", "data_dir": "mnist"}, "both given"),
    ({"output_dir": None}, "cannot be None"),
    ({"mode": "turbo"}, "unknown compile mode 'turbo'"),
])
def test_python_configs_are_checked_in_one_line(values, message):
    with pytest.raises(ConfigError) as refused:
        dA.Config(**values)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_across_fields_checks():
    with pytest.raises(ConfigError, match="has 2 values for 3 --hidden-layers"):
        SdA.Config(corruption_levels=[0.1, 0.2])
    with pytest.raises(ConfigError, match="no KL term"):
        vae.Config(beta=2.0, iwae=5)


def test_values_are_normalised():
    config = dA.Config(corruption=(0, 0.5), output_dir="out", data="x.npy")
    assert config.corruption == [0.0, 0.5] and isinstance(config.corruption[0], float)
    assert config.output_dir == Path("out") and config.data == Path("x.npy")
    saved = config.saved()
    assert "output_dir" not in saved and saved["data"] == str(Path("x.npy").resolve())


# -- merge: pure -------------------------------------------------------------------------------
def test_merge_keeps_the_saved_config_and_takes_what_may_change():
    saved = dA.Config(epochs=5, n_hidden=8, seed=1).saved()
    merged = merge(dA.Config, saved, dA.Config(epochs=9, output_dir="elsewhere"), typed={"epochs"})
    assert (merged.epochs, merged.n_hidden, merged.seed) == (9, 8, 1)  # untyped: the saved values
    assert merged.output_dir == Path("elsewhere")  # not saved: the folder may move


def test_merge_refuses_a_typed_field_that_may_not_change():
    saved = dA.Config(n_hidden=8).saved()
    with pytest.raises(ConfigError, match=r"--n-hidden 9 differs from the run being resumed \(--n-hidden 8\)"):
        merge(dA.Config, saved, dA.Config(n_hidden=9), typed={"n_hidden"})
    # from Python every field counts as given: the whole config must match, but what may change
    with pytest.raises(ConfigError, match="--n-hidden 500 differs"):
        merge(dA.Config, saved, dA.Config())
    assert merge(dA.Config, saved, dA.Config(n_hidden=8, epochs=30)).epochs == 30


def test_merge_reads_an_older_checkpoints_flags_and_ignores_fields_gone():
    saved = {"n_hidden": 8, "corruption": [0.0, 0.3], "run": "x", "data": None}
    merged = merge(dA.Config, saved, dA.Config(), typed=set())
    assert merged.n_hidden == 8


def test_each_experiment_declares_what_a_resumed_run_may_change():
    assert set(SdA.Config.MAY_CHANGE) == {"pretraining_epochs", "training_epochs", "pretrain_lr",
                                          "finetune_lr", "mode"}
    assert "k" in vae.Config.MAY_CHANGE
    for module in EXPERIMENTS.values():
        names = {f.name for f in dataclasses.fields(module.Config)}
        assert set(module.Config.MAY_CHANGE) <= names, module.__name__


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_command_line_writes_the_non_default_fields_and_parses_back_to_the_config(name):
    module = EXPERIMENTS[name]
    config = module.Config(epochs=3, seed=7, mode="py") if name != "SdA" else \
        module.Config(pretraining_epochs=0, seed=7, mode="py")
    words = command_line(config, name).split()
    assert words[:3] == ["dae", "train", name] and "--output-dir" not in words
    parsed = from_flags(module.Config, add_flags(argparse.ArgumentParser(), module.Config).parse_args(words[3:]))
    assert parsed == config, "the command must rebuild the same config"
    assert command_line(module.Config(), name) == f"dae train {name}", "defaults give no flags"


# -- a run from Python, as a notebook cell does ----------------------------------------------------
def test_an_experiment_runs_from_a_config_and_returns_its_result(tmp_path):
    import numpy as np

    from dae.experiments.common import Report

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((40, 4, 4)).astype("float32"))
    lines = []
    config = dA.Config(data=data, n_hidden=3, epochs=2, corruption=[0.3], mode="py",
                       output_dir=tmp_path / "run")
    result = dA.run(config, Report(line=lines.append))
    assert set(result.numbers) == {"cost_corruption_30"}
    assert result.numbers["cost_corruption_30"] == result.history[-1]["cost"]
    assert {p.name for p in result.files} == {"dA_corruption_30.npz", "filters_corruption_30.png",
                                             "learning_curve.png"}
    assert all(p.exists() for p in result.files) and result.output_dir == tmp_path / "run"
    assert [r["epoch"] for r in result.history] == [0, 1] and lines[0].startswith("corruption_30 epoch")
    # resumed from Python with more epochs (a field that may change); the rest must match
    more = dA.run(dataclasses.replace(config, epochs=3), resume=True)
    assert [r["epoch"] for r in more.history] == [0, 1, 2] and more.config.epochs == 3
    with pytest.raises(ConfigError, match="--n-hidden 4 differs"):
        dA.run(dataclasses.replace(config, n_hidden=4), resume=True)
